"""`wcbundle resolve` and `wcbundle why`, plus the selection flags `build` reuses.

Thin layer: parse flags into a Selection, call bundler.resolve, print. Logs go
to stderr; `--json` prints the lock (docs/design.md section 3) on stdout only.
The solver is imported inside the commands so that `wcbundle --help` and the
other subcommands do not load libsolv.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import click

from .. import paths
from ..errors import InputError
from ..units import human_size

log = logging.getLogger("wcbundle")


def selection_options(f):
    """--el --manifest --role --repo --install --baseline --cache --refresh."""
    options = [
        click.option("--el", type=click.Choice(["7", "8", "9"]), default="7", show_default=True,
                     help="Target Enterprise Linux major version."),
        click.option("--manifest", "manifest", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="Manifest YAML (default: the embedded workcenter.yaml)."),
        click.option("--role", "roles", multiple=True, metavar="ROLE",
                     help="Resolve only these roles (repeatable; default: every role)."),
        click.option("--repo", "repos", multiple=True, metavar="ID=URL",
                     help="Use these repos instead of the manifest's (repeatable; http(s)://, file:// or a "
                          "directory). A known ID keeps its manifest options; only the URL changes."),
        click.option("--install", "installs", multiple=True, metavar="PKG",
                     help="Resolve these packages as one role named 'custom' instead of the manifest's roles."),
        click.option("--baseline", default="minimal", show_default=True, metavar="minimal|none|FILE",
                     help="What the target already has: @core, nothing, or a capture file "
                          "(see `rpm -qa --qf` in bundler/baseline.py)."),
        click.option("--cache", "cache", type=click.Path(file_okay=False, path_type=Path), default=None,
                     help="Cache directory [default: $XDG_CACHE_HOME/wcbundle]."),
        click.option("--refresh", is_flag=True, help="Revalidate cached http(s) repomd.xml now."),
    ]
    for opt in reversed(options):
        f = opt(f)
    return f


def _parse_repo(spec: str) -> tuple[str, str]:
    m = re.fullmatch(r"([A-Za-z0-9_.:-]+)=(.+)", spec)
    if not m:
        raise InputError(f"--repo '{spec}' is not ID=URL", hint="Example: --repo c7-os=https://mirror/centos/7/os/x86_64/")
    rid, url = m.group(1), m.group(2)
    if not re.match(r"(https?|file)://", url):
        path = Path(url).expanduser()
        if not path.is_dir():
            raise InputError(f"--repo {rid}: '{url}' is neither an http(s):// or file:// URL nor a directory")
        url = path.resolve().as_uri()
    return rid, url


def selection_from(**kwargs):
    """Build a resolve.Selection from the options of `selection_options` (extra kwargs are ignored)."""
    from ..resolve import Selection
    repos: dict[str, str] = {}
    for spec in kwargs.get("repos") or ():
        rid, url = _parse_repo(spec)
        if rid in repos:
            raise InputError(f"--repo {rid} is given twice")
        repos[rid] = url
    gpgkeys: dict[str, list[str]] = {}
    for spec in kwargs.get("gpgkeys") or kwargs.get("gpgkey") or ():
        m = re.fullmatch(r"([A-Za-z0-9_.:-]+)=(.+)", spec)
        if not m:
            raise InputError(f"--gpgkey '{spec}' is not ID=URL")
        gpgkeys.setdefault(m.group(1), []).append(m.group(2))
    baseline = kwargs.get("baseline") or "minimal"
    if baseline not in ("minimal", "none") and not Path(baseline).is_file():
        raise InputError(f"--baseline '{baseline}' is neither minimal, none nor a readable capture file")
    return Selection(
        el=int(kwargs.get("el") or 7),
        manifest_path=Path(kwargs["manifest"]) if kwargs.get("manifest") else paths.DEFAULT_MANIFEST,
        roles=list(kwargs.get("roles") or ()),
        repos=repos,
        gpgkeys=gpgkeys,
        installs=list(kwargs.get("installs") or ()),
        baseline=baseline,
        cache_dir=paths.cache_dir(kwargs.get("cache")),
        refresh=bool(kwargs.get("refresh")),
    )


def _run_resolve(kwargs):
    from ..resolve import resolve as do_resolve
    sel = selection_from(**kwargs)
    log.info("resolving for EL%s against baseline %s", sel.el, sel.baseline)
    return do_resolve(sel, progress=lambda role: log.info("solving role %s", role))


@click.command()
@selection_options
@click.option("--json", "as_json", is_flag=True, help="Print the lock as JSON on stdout.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the lock to this file.")
def resolve(as_json: bool, output: Path | None, **kwargs) -> None:
    """Resolve each role's closure against the target baseline (one libsolv transaction per role)."""
    lock = _run_resolve(kwargs)
    if output:
        from ..lock import dump
        dump(lock, output)
        log.info("lock written to %s", output)
    if as_json:
        click.echo(json.dumps(lock.to_dict(), indent=2))
        return
    base = lock.baseline
    click.echo(f"EL{lock.el} {lock.arch}, baseline {base['kind']} ({base['source']}, {base['count']} packages)")
    click.echo(f"{'ROLE':<14} {'INSTALL':>7} {'UPGRADE':>7} {'DOWNLOAD':>10}  REQUESTED")
    for name, role in lock.roles.items():
        click.echo(f"{name:<14} {len(role.install):>7} {len(role.upgrade):>7} "
                   f"{human_size(lock.total_size(name)):>10}  {' '.join(role.requested)}")
    click.echo(f"{'total':<14} {len(lock.packages):>7} {'':>7} {human_size(lock.total_size()):>10}  "
               "(distinct packages, shared by roles)")


@click.command()
@click.argument("package")
@selection_options
@click.option("--json", "as_json", is_flag=True, help="Print the chains as JSON on stdout.")
def why(package: str, as_json: bool, **kwargs) -> None:
    """Show why PACKAGE is in the closure: the chain from a requested package to it."""
    from ..errors import ResolveError
    lock = _run_resolve(kwargs)
    found = {role: p.why for p in lock.packages if p.name == package for role in p.roles}
    if not found:
        raise ResolveError(f"'{package}' is not in the resolved closure of {', '.join(lock.roles)} "
                           f"(baseline {lock.baseline['kind']}): nothing requested needs it, or the baseline has it.")
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    for role, chain in sorted(found.items()):
        click.echo(f"{role}: {' -> '.join(chain)}")
