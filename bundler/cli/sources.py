"""`wcbundle sources`: list the manifest's sources per EL and, with --check, probe each one.

Thin layer over bundler.resolve.sources: the listing (or JSON) on stdout, progress on stderr. The exit
code of --check: 0 all good, 5 a source unreachable, stale or missing a pinned version, 7 a key
that does not match its pinned fingerprint.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click

from ..core import paths

log = logging.getLogger("wcbundle")


@click.command()
@click.option("--el", type=click.Choice(["7", "8", "9"]), default=None,
              help="Only this Enterprise Linux major version [default: every EL of the manifest].")
@click.option("--manifest", "manifest", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Manifest YAML (default: the embedded workcenter.yaml).")
@click.option("--check", is_flag=True,
              help="Probe every source (repomd.xml and its age and signature, pinned versions, keys against "
                   "their pins, direct RPMs' reachability and size); each probe is bounded in time.")
@click.option("--max-age", "max_age", type=click.FloatRange(min=0), default=None, metavar="DAYS",
              help="With --check: call metadata older than DAYS stale (exit 5).")
@click.option("--json", "as_json", is_flag=True, help="Print the sources (and check results) as JSON on stdout.")
def sources(el: str | None, manifest: Path | None, check: bool, max_age: float | None, as_json: bool) -> int:
    """List where the manifest's packages come from: repos, keys with their pinned fingerprints,
    direct RPMs and pins, per EL. Run it with --check on a connected host before the first build."""
    from ..resolve.manifest import load_manifest
    from ..resolve.sources import check_sources, describe, exit_code, list_sources, probe_line
    man = load_manifest(manifest or paths.DEFAULT_MANIFEST)
    els = [int(el)] if el else sorted(int(v) for v in man.el)
    for v in els:
        man.for_el(v)  # a missing EL section is a ManifestError (exit 3) before anything is probed
    srcs = list_sources(man, els)
    probes = None
    if check:
        from ..resolve.sources import PROBE_TIMEOUT
        log.info("probing %d sources (each request bounded to %.0f s)", len(srcs), PROBE_TIMEOUT[1])
        probes = check_sources(srcs, max_age_days=max_age)
    if as_json:
        from ..resolve.sources import as_json as to_json
        click.echo(json.dumps(to_json(srcs, probes), indent=2))
    elif probes is None:
        click.echo(describe(srcs, man))
    else:
        for p in probes:
            click.echo(probe_line(p))
        bad = [p for p in probes if p.verdict != "ok"]
        click.echo(f"{len(probes) - len(bad)} of {len(probes)} sources ok"
                   + (f"; {len(bad)} need attention (exit {exit_code(probes)})" if bad else ""))
    return exit_code(probes) if probes is not None else 0
