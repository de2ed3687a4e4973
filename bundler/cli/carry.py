"""`wcbundle verify`, `wcbundle inspect`, `wcbundle split`: carrying a bundle across the gap.

Thin click layer over bundler.carry.verify and bundler.carry.split: parse, call, print.
Results go to stdout (JSON with --json); errors are raised and mapped to exit
codes by bundler.cli.main (6 integrity, 7 signature, 3 bad option value).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..carry import split as split_mod
from ..carry import verify as verify_mod
from ..core.units import human_size


def _human(n: int | None) -> str:
    return "-" if n is None else human_size(n)


def files_counted(info: dict) -> str:
    """What the file count counts, in the words install.sh --check uses (lib/verify.sh)."""
    files, listed, sig = info["files"], info["listed"], bool(info.get("manifest_signed"))
    added = files - listed - 1 - sig
    return (f"{files} files = {listed} listed in MANIFEST.sha256 (all match) + MANIFEST.sha256"
            + (" + MANIFEST.sha256.asc" if sig else "")
            + (f" + {added} added on the target (site/)" if added > 0 else ""))


# the words of inspect for bundle.json's build keys
BUILD_WORDS = (("tool_version", "Tool", lambda b: f"wcbundle {b['tool_version']}"),
               ("time", "Built", lambda b: str(b["time"]).replace("T", " ").replace("Z", " UTC")),
               ("host", "Builder", lambda b: str(b["host"])),
               ("manifest_sha256", "Manifest", lambda b: f"sha256 {b['manifest_sha256']}"))


@click.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--require-signature", "require_fpr", metavar="FPR",
              help="Refuse the bundle unless it is signed by the key with this full fingerprint.")
@click.option("--keyring", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="Check signatures against this keyring instead of the key shipped in the bundle.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
def verify(bundle: Path, require_fpr: str | None, keyring: Path | None, as_json: bool) -> None:
    """Verify BUNDLE: a .tar (+ .tar.sha256), its split parts (.parts.json or
    .part001), or an extracted directory.

    Checks the sidecar hash over every byte, refuses hostile archives (.., absolute
    paths, links, devices, FIFOs, duplicates, tar-in-tar, truncated or appended
    data), every MANIFEST.sha256 entry, unlisted files, and GPG signatures when
    present. Exit 6 on an integrity failure, 7 on a signature failure.
    """
    info = verify_mod.verify_bundle(bundle, require_fpr=require_fpr, keyring=keyring)
    if as_json:
        click.echo(json.dumps(info, indent=2, sort_keys=True))
        return
    what = {"tar": "tar", "parts": f"{len(info.get('parts', []))} parts", "dir": "directory"}[info["kind"]]
    click.echo(f"OK: {info['top']} ({what}, {_human(info['bytes'])}): {files_counted(info)}")
    if info["sha256"]:
        click.echo(f"sha256: {info['sha256']}")
    if info["signed"]:
        req = " (required)" if require_fpr else " (not pinned: compare it with the fingerprint from the builder)"
        click.echo(f"Signed by: {info['signer']}{req}")
    else:
        click.echo("Not signed.")


@click.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
def inspect(bundle: Path, as_json: bool) -> None:
    """Show EL, arch, roles -> packages, sizes and build info of BUNDLE, read
    from bundle.json without extracting anything to disk."""
    info = verify_mod.inspect_bundle(bundle)
    if as_json:
        click.echo(json.dumps(info, indent=2, sort_keys=True))
        return
    build = info.get("build") or {}
    click.echo(f"Bundle:   {info['bundle']}")
    click.echo(f"Target:   EL{info['el']} {info['arch']}")
    click.echo(f"Packages: {info['packages']} ({_human(info['packages_bytes'])})"
               + (f", archive {_human(info['bytes'])}" if info["bytes"] else ""))
    for key, label, words in BUILD_WORDS:
        if key in build:
            click.echo(f"{label + ':':<10}{words(build)}")
    if info.get("site"):
        click.echo(f"Site:     {info['site']}")
    if info.get("base"):
        click.echo(f"Update:   of {info['base'].get('bundle_id', '?')}: carries {len(info['carried'] or [])} of the "
                   f"{info['packages']} packages (the rest stay in that bundle's repo)")
    from ..changes import changes_words
    for role, ch in info["changes"].items():
        req = " ".join(info["requested"].get(role, []))
        click.echo(f"Role {role}: {changes_words(ch)}, {_human(info['role_bytes'].get(role))}"
                   + (f" (requested: {req})" if req else ""))
        replaced = {}
        for nevra, old in ch["replace"]:
            replaced.setdefault(nevra, []).append(old)
        notes = {nevra: f"upgrades {old}" for nevra, old in ch["upgrade"]}
        notes.update({nevra: f"downgrades {old}" for nevra, old in ch["downgrade"]})
        notes.update({nevra: "reinstalls the baseline's" for nevra in ch["reinstall"]})
        for nevra in sorted(ch["install"] + list(notes)):
            words = [notes[nevra]] if nevra in notes else []
            if nevra in replaced:
                words.append(f"replaces {', '.join(replaced[nevra])} through Obsoletes")
            click.echo(f"  {nevra}" + (f"  ({'; '.join(words)})" if words else ""))

@click.command()
@click.argument("bundle", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.argument("size", required=False, default=split_mod.DEFAULT_SIZE)
def split(bundle: Path, size: str) -> None:
    """Cut BUNDLE (.tar) into parts of SIZE (bytes or K/M/G; default 3900M,
    below FAT32's 4 GiB limit), with a .parts.json index, a .parts.sha256 list
    and join.sh next to it. Stale parts from an earlier split are removed."""
    nbytes = split_mod.parse_size(size)
    written = split_mod.split_bundle(bundle, nbytes)
    parts = [p for p in written if split_mod._PART_RE.search(p.name)]
    for p in split_mod.carried_files(bundle, written):
        click.echo(str(p))
    top = bundle.name.removesuffix(".tar")
    click.echo(f"{len(parts)} parts of at most {_human(nbytes)}. Copy every file listed above. On the target: "
               f"./join.sh (bash and coreutils only), then tar xf {bundle.name} && cd {top} && ./install.sh "
               f"--check. Here, `wcbundle verify {parts[0].name}` checks the parts without joining them.", err=True)
