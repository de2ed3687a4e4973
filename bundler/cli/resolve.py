"""`wcbundle resolve` and `wcbundle why`, plus the selection flags `build` reuses.

Thin layer: parse flags into a Selection, call bundler.resolve.solve, print. Logs go
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

from ..core import paths
from ..core.errors import InputError
from ..core.units import human_size

log = logging.getLogger("wcbundle")


def selection_options(f):
    """--el --manifest --role --repo --gpgkey --key-fingerprint --install --baseline --cache --refresh."""
    options = [
        click.option("--el", default="7", show_default=True, metavar="7|8|9", callback=_check_el,
                     help="Target Enterprise Linux major version."),
        click.option("--manifest", "manifest", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="Manifest YAML (default: the embedded workcenter.yaml)."),
        click.option("--role", "roles", multiple=True, metavar="ROLE",
                     help="Resolve only these roles (repeatable; default: every role)."),
        click.option("--repo", "repos", multiple=True, metavar="ID=URL",
                     help="Use these repos instead of the manifest's (repeatable; http(s)://, file:// or a "
                          "directory). ID must be one of the manifest's repo ids: it keeps its manifest "
                          "options and only the URL changes."),
        click.option("--adhoc-repo", "adhoc_repos", multiple=True, metavar="ID=URL",
                     help="Like --repo, for a repo the manifest does not define (no typo check on ID; "
                          "give its key with --gpgkey ID=URL)."),
        click.option("--gpgkey", "gpgkeys", multiple=True, metavar="ID=URL",
                     help="Signing key of repo ID (repeatable; file:// or http(s)://), e.g. for an ad-hoc --repo. "
                          "The repo's pinned fingerprints still apply unless --key-fingerprint replaces them."),
        click.option("--key-fingerprint", "key_fingerprints", multiple=True, metavar="ID=FPR",
                     help="Pin repo ID's key to this full fingerprint (repeatable; replaces the manifest's pins "
                          "of that repo). Compare it with the vendor's published fingerprint first."),
        click.option("--install", "installs", multiple=True, metavar="PKG",
                     help="Resolve these packages as one role named 'custom' instead of the manifest's roles."),
        click.option("--baseline", default="minimal", show_default=True, metavar="minimal|none|FILE",
                     help="What the target already has: @core, nothing, or a capture file "
                          "(see `rpm -qa --qf` in bundler/resolve/baseline.py)."),
        click.option("--cache", "cache", type=click.Path(file_okay=False, path_type=Path), default=None,
                     help="Cache directory [default: $XDG_CACHE_HOME/wcbundle]."),
        click.option("--refresh", is_flag=True, help="Revalidate cached http(s) repomd.xml now."),
    ]
    for opt in reversed(options):
        f = opt(f)
    return f


SUPPORTED_EL = ("7", "8", "9")


def _check_el(ctx, param, value):
    """--el: 7, 8 or 9, with a message that says so (not click's generic 'is not one of')."""
    text = str(value).strip().lower().removeprefix("el")
    if text not in SUPPORTED_EL:
        raise click.BadParameter(
            f"EL '{value}' is not supported: wcbundle builds bundles for EL 7, 8 and 9 (x86_64). "
            "Pass --el 7, --el 8 or --el 9, the major version of the target hosts.", ctx=ctx, param=param)
    return text


def _parse_repo(spec: str, flag: str = "--repo") -> tuple[str, str]:
    m = re.fullmatch(r"([A-Za-z0-9_.:-]+)=(.+)", spec)
    if not m:
        raise InputError(f"{flag} '{spec}' is not ID=URL", hint="Example: --repo c7-os=https://mirror/centos/7/os/x86_64/")
    rid, url = m.group(1), m.group(2)
    if not re.match(r"(https?|file)://", url):
        path = Path(url).expanduser()
        if not path.is_dir():
            raise InputError(f"{flag} {rid}: '{url}' is neither an http(s):// or file:// URL nor a directory",
                             hint="Give a URL, or the path of a directory holding repodata/.")
        url = path.resolve().as_uri()
    return rid, url


def _check_local_inputs(sel, adhoc: set[str]) -> None:
    """Every local input of a run, before any network access and before the first progress line:
    the manifest, the EL section, the --repo ids, the roles and the --baseline capture."""
    import difflib

    from ..resolve.manifest import load_manifest
    man = load_manifest(sel.manifest_path, cache_dir=sel.cache_dir)
    conf = man.for_el(sel.el)
    known = conf.source_ids()  # repos, and direct RPMs with an id (a mirror repo stands in for them)
    for rid in sel.repos:
        if rid in known or rid in adhoc:
            continue
        close = difflib.get_close_matches(rid, known, n=3, cutoff=0.6)
        guess = f"Did you mean {' or '.join(close)}? " if close else ""
        raise InputError(f"--repo {rid}: the manifest has no repo '{rid}' for EL{sel.el} "
                         f"(its repos: {', '.join(known)}).",
                         hint=f"{guess}To use a repo the manifest does not define, pass it as "
                              f"--adhoc-repo {rid}=URL (with --gpgkey {rid}=URL and --key-fingerprint {rid}=FPR for its key).")
    man.role_requests(sel)  # unknown roles
    if sel.baseline not in ("minimal", "none"):
        from ..resolve.baseline import load_capture
        load_capture(sel.baseline)  # the capture's own loader: a bad line is exit 3 now, not after downloads


def selection_from(**kwargs):
    """Build a resolve.Selection from the options of `selection_options` (extra kwargs are ignored),
    after checking every local input (no network access before that)."""
    from ..resolve.solve import Selection
    repos: dict[str, str] = {}
    adhoc: set[str] = set()
    specs = [(s, "--repo") for s in kwargs.get("repos") or ()]
    specs += [(s, "--adhoc-repo") for s in kwargs.get("adhoc_repos") or ()]
    for spec, flag in specs:
        rid, url = _parse_repo(spec, flag)
        if rid in repos:
            raise InputError(f"{flag} {rid}: repo '{rid}' is given twice",
                             hint="A repo takes one URL: give each ID once.")
        repos[rid] = url
        if flag == "--adhoc-repo":
            adhoc.add(rid)
    gpgkeys: dict[str, list[str]] = {}
    for spec in kwargs.get("gpgkeys") or kwargs.get("gpgkey") or ():
        m = re.fullmatch(r"([A-Za-z0-9_.:-]+)=(.+)", spec)
        if not m:
            raise InputError(f"--gpgkey '{spec}' is not ID=URL",
                             hint="Example: --gpgkey mariadb=file:///root/RPM-GPG-KEY-MariaDB")
        gpgkeys.setdefault(m.group(1), []).append(m.group(2))
    fingerprints: dict[str, list[str]] = {}
    for spec in kwargs.get("key_fingerprints") or ():
        from ..resolve.manifest import normalize_fingerprint
        m = re.fullmatch(r"([A-Za-z0-9_.:-]+)=(.+)", spec)
        fpr = normalize_fingerprint(m.group(2)) if m else ""
        if not fpr:
            raise InputError(f"--key-fingerprint '{spec}' is not ID=FPR with a full 40-hex-digit fingerprint",
                             hint="Example: --key-fingerprint mariadb=177F4010FE56CA3336300305F1656F24C74CD1D8 "
                                  "(a short key id is not a pin).")
        fingerprints.setdefault(m.group(1), []).append(fpr)
    baseline = kwargs.get("baseline") or "minimal"
    if baseline not in ("minimal", "none") and not Path(baseline).is_file():
        raise InputError(f"--baseline '{baseline}' is neither minimal, none nor a readable capture file",
                         hint="Capture one on the target with ./install.sh --capture-baseline FILE "
                              "(README: 'Using it on a real connected host').")
    sel = Selection(
        el=int(kwargs.get("el") or 7),
        manifest_path=Path(kwargs["manifest"]) if kwargs.get("manifest") else paths.DEFAULT_MANIFEST,
        roles=list(kwargs.get("roles") or ()),
        repos=repos,
        gpgkeys=gpgkeys,
        fingerprints=fingerprints,
        installs=list(kwargs.get("installs") or ()),
        baseline=baseline,
        cache_dir=paths.cache_dir(kwargs.get("cache")),
        refresh=bool(kwargs.get("refresh")),
    )
    _check_local_inputs(sel, adhoc)
    return sel


def _run_resolve(kwargs):
    from ..resolve.solve import resolve as do_resolve
    sel = selection_from(**kwargs)  # raises on bad input before anything is printed
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
    from ..changes import role_changes
    changes = role_changes(lock)  # the counts inspect and report.html show too
    click.echo(f"{'ROLE':<14} {'INSTALL':>7} {'UPGRADE':>7} {'REPLACES':>8} {'DOWNLOAD':>10}  REQUESTED")
    for name, role in lock.roles.items():
        ch = changes[name]
        click.echo(f"{name:<14} {len(ch.install):>7} {len(ch.upgrade):>7} {len(ch.replace):>8} "
                   f"{human_size(lock.total_size(name)):>10}  {' '.join(role.requested)}")
    click.echo(f"{'total':<14} {len(lock.packages):>7} {'':>7} {'':>8} {human_size(lock.total_size()):>10}  "
               "(distinct packages, shared by roles)")
    for key, r in lock.joint.items():   # roles solved together (one host): what only the combination needs
        only = sorted(p.nevra for p in lock.packages if key in p.joint and not p.roles)
        click.echo(f"together {key.replace('+', ' + ')}: {len(r.install) + len(r.upgrade)} packages"
                   + (f", {len(only)} only for this combination: {' '.join(only)}" if only else ""))
    for name, ch in changes.items():  # REPLACES counts baseline packages another one obsoletes
        for nevra, old in ch.replace:
            click.echo(f"{name}: {nevra} replaces {old} (Obsoletes)")
        for nevra, old in ch.downgrade:
            click.echo(f"{name}: {nevra} downgrades {old}")


@click.command()
@click.argument("package")
@selection_options
@click.option("--json", "as_json", is_flag=True, help="Print the chains as JSON on stdout.")
def why(package: str, as_json: bool, **kwargs) -> None:
    """Show why PACKAGE is in the closure: the chain from a requested package to it."""
    lock = _run_resolve(kwargs)
    found = {role: p.why for p in lock.packages if p.name == package for role in p.roles + p.joint}
    if not found:
        raise _not_in_closure(package, lock, kwargs)
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    for role, chain in sorted(found.items()):
        click.echo(f"{role}: {' -> '.join(chain)}")


def _not_in_closure(package: str, lock, kwargs):
    """Why PACKAGE is not in the closure: no repo has it, the baseline has it, or nothing needs it.

    Decided by solving PACKAGE alone against the same repos and baseline (the metadata is
    cached by the first solve, so this reads no network)."""
    import dataclasses

    from ..core.errors import ResolveError
    from ..resolve.solve import resolve as do_resolve
    roles = ", ".join(lock.roles)
    base = f"baseline {lock.baseline['kind']}"
    sel = dataclasses.replace(selection_from(**kwargs), installs=[package], roles=[])
    try:
        alone = do_resolve(sel)
    except ResolveError as exc:
        if "no package named" in exc.message:
            return ResolveError(f"'{package}' does not exist: no repo of this run "
                                f"({', '.join(lock.repos)}) has a package or a provide by that name.",
                                hint=exc.hint)
        return ResolveError(f"'{package}' is not in the resolved closure of {roles} ({base}), and it cannot be "
                            f"installed on its own: {exc.message}", hint=exc.hint)
    own = [p for p in alone.packages if p.name == package]
    if own:
        return ResolveError(f"'{package}' is not in the resolved closure of {roles} ({base}): it exists "
                            f"({own[0].nevra} in repo {own[0].repo}), but nothing the roles request needs it.",
                            hint="Add it to a role in the manifest, or use --install to resolve it alone.")
    return ResolveError(f"'{package}' is not in the resolved closure of {roles}: the {base} "
                        f"({lock.baseline.get('source', '')}) already provides it, so no role downloads it.",
                        hint="Use --baseline none to see the chain on an empty system.")
