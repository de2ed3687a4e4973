"""`wcbundle plan`: the site plan (firewall sheet, per-host rules, diagram) from a site.yaml."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("plan")
@click.option("--site", "site_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The site file (see manifests/site.example.yaml).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output directory (default: ./plan-<site name>).")
def plan(site_file: Path, out_dir: Path | None) -> None:
    """Write the firewall request sheet (CSV + Markdown, English/Korean), the
    exact firewalld rules per host, and the topology diagram (SVG, graphviz).

    Everything comes from the same flow table install.sh applies on the hosts.
    """
    from ..site.model import load_site
    from ..site.plan import write_plan

    site = load_site(site_file)
    for path in write_plan(site, out_dir or Path(f"plan-{site.name}")):
        click.echo(str(path))
