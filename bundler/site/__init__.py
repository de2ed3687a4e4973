"""The site: site.yaml model, flows (data), plan, roles, WorkCenter-app.yml config."""
