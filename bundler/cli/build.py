"""`wcbundle build`: the options, then bundler.pipeline.build(), then the summary.

Thin layer: the steps themselves (resolve -> fetch -> signatures -> localrepo -> pack
[-> split]), their progress lines and timings on stderr live in bundler/pipeline.py.
stdout gets only the result: the bundle path, its sha256 and a one-line summary.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import click

from ..core.errors import InputError
from ..core.units import human_size
from .resolve import selection_from, selection_options

log = logging.getLogger("wcbundle")


def _module_disable(sel) -> list[str]:
    """The manifest's `modules.disable` for the target EL (bundle.env's WCB_MODULE_DISABLE)."""
    from ..resolve.manifest import load_manifest
    return list(load_manifest(sel.manifest_path).for_el(sel.el).modules.disable)


@click.command()
@selection_options
@click.option("--site", "site_path", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Site file (site.yaml): adds site/site.env, site/secrets.env (0600) and the app jar.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("out"),
              show_default=True, help="Directory for the bundle (.tar + .tar.sha256, or the tree).")
@click.option("--jobs", type=click.IntRange(1, 64), default=8, show_default=True,
              help="Parallel downloads.")
@click.option("--format", "fmt", type=click.Choice(["tar", "dir"]), default="tar", show_default=True,
              help="One uncompressed .tar with a .sha256 sidecar, or the bundle directory only.")
@click.option("--allow-unsigned", "allow_unsigned", multiple=True, metavar="REPO",
              help="Accept unsigned packages from REPO (repeatable). Recorded in bundle.json and the report.")
@click.option("--sign-key", "sign_key", metavar="KEYID",
              help="Sign MANIFEST.sha256 and the tar's sidecar with this GnuPG secret key.")
@click.option("--split", "split_size", metavar="SIZE",
              help="Also cut the tar into parts of SIZE (e.g. 3900M) with an index and join.sh.")
@click.option("--since", "since", metavar="OLD", type=click.Path(path_type=Path),
              help="Build an update of the bundle OLD (its .tar, .parts.json, extracted directory or "
                   "bundle.json): solved on top of OLD's packages, carrying only the RPMs OLD does not have, "
                   "and OLD's site/secrets.env as it is (with --site, OLD must hold it: not a bundle.json alone).")
@click.pass_context
def build(ctx: click.Context, site_path: Path | None, out_dir: Path, jobs: int,
          fmt: str, allow_unsigned: tuple[str, ...], sign_key: str | None, split_size: str | None,
          since: Path | None, **kwargs) -> None:
    """Build an offline bundle: resolve, download and verify every package, check
    RPM signatures, make the local repo, and pack the installer, repo, keys, site
    files, SBOM and report into one verified .tar. With --since OLD, an update
    bundle: the full new lock, but only the RPMs OLD does not already carry."""
    quiet = bool((ctx.obj or {}).get("quiet"))
    if split_size and fmt != "tar":
        raise InputError("--split needs --format tar (a directory cannot be split).")
    split_bytes = None
    if split_size:
        from ..carry.split import parse_size
        split_bytes = parse_size(split_size)
    sel = selection_from(**kwargs)
    for rid, urls in sel.gpgkeys.items():  # a local key file that is not there fails now, not after the downloads
        for url in urls:
            if url.startswith("file://"):
                from ..resolve.metadata import file_url_path
                if not file_url_path(url).is_file():
                    raise InputError(f"--gpgkey {rid}: {file_url_path(url)} does not exist or is not a file.",
                                     hint="Give the path of the repo's public key file (ASCII-armored).")
    site = None
    if site_path is not None:  # validated before anything is downloaded
        from ..site.model import load_site
        site = load_site(site_path)
        # the role sets the site's hosts hold, each solved as one job (docs/design.md, "resolve")
        sel.joint = [list(n.roles) for n in site.nodes]
    if sign_key:  # a missing signing key fails now, not after the downloads
        from ..carry.sign import fingerprint_of
        fingerprint_of(sign_key)
    old = None
    if since is not None:  # OLD is read and checked before anything is downloaded (exit 3 if wrong)
        from ..assemble.update import base_secrets, check_base
        from ..carry.diff import read_bundle_doc
        old = read_bundle_doc(since, "--since")
        check_base(old, sel.el, "x86_64", site.name if site is not None else None)
        base_secrets(old, site)   # the update carries OLD's secrets.env: refused now when it cannot
    from ..pipeline import BuildContext
    from ..pipeline import build as run_pipeline
    t_start = time.monotonic()
    ctx = run_pipeline(BuildContext(sel=sel, out_dir=out_dir, fmt=fmt, jobs=jobs, site=site,
                                    allow_unsigned=tuple(allow_unsigned), sign_key=sign_key,
                                    split_bytes=split_bytes, quiet=quiet, module_disable=_module_disable(sel),
                                    since=old),
                       echo=lambda text: click.echo(text, err=True))
    lock, result, parts, stats = ctx.lock, ctx.result, ctx.parts, ctx.stats

    total = time.monotonic() - t_start
    click.echo(str(result.path))
    if result.sha256:
        click.echo(f"sha256: {result.sha256}")
    for p in parts:
        click.echo(str(p))
    if sign_key:
        from ..carry.sign import fingerprint_of
        click.echo(f"Signed by: {fingerprint_of(sign_key)} (give this fingerprint to the target's operator "
                   "by another channel)")
    roles = ", ".join(f"{r} ({len(v.install) + len(v.upgrade)})" for r, v in lock.roles.items())
    click.echo(f"EL{lock.el} {lock.arch}: {result.packages} packages for {roles}; "
               f"{human_size(result.size)}; built in {total:.1f}s "
               f"({stats.downloaded} downloaded, {stats.cached} cached)"
               + (f"; report: {result.report}" if result.report else ""))
    if ctx.update is not None:
        click.echo(f"Update of {old.bundle_id}: {result.packages} changed packages "
                   f"({human_size(ctx.update.diff['carried']['bytes'])}); install it with "
                   f"{old.bundle_id}'s repo kept.")
