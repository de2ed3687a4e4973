"""Layer 4: a built bundle on its way to the site: verify, split, sign."""
