"""`wcbundle diff OLD NEW`: added, removed and upgraded packages per role, with sizes (issue 14)."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command()
@click.argument("old", type=click.Path(path_type=Path))
@click.argument("new", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the diff as JSON.")
def diff(old: Path, new: Path, as_json: bool) -> None:
    """Show what changed between bundles OLD and NEW, per role: packages added, removed and
    upgraded, with sizes, and what an update from OLD to NEW carries. Each may be a bundle
    .tar, its .parts.json, an extracted bundle directory, or its bundle.json."""
    from ..carry.diff import diff_locks, read_bundle_doc, render_diff
    a = read_bundle_doc(old, "OLD")
    b = read_bundle_doc(new, "NEW")
    result = diff_locks(a.lock, b.lock)
    result["old"]["bundle_id"], result["new"]["bundle_id"] = a.bundle_id, b.bundle_id
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        click.echo(render_diff(result, a.bundle_id, b.bundle_id), nl=False)
