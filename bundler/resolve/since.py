"""`wcbundle build --since OLD`: the new state, solved on a target that already runs OLD (issue 14).

Each role (and each set of roles one host holds, solved together as resolve() does: `joint`) is
solved as `dnf install <the role's packages>` plus `dnf upgrade` of OLD's packages on a target whose
installed system is the target baseline with OLD's packages of that role (or joint job) installed
over it (what the node holds after installing OLD): the installed repo of bundler.resolve.baseline,
built from whole records as for any baseline. The records of OLD's packages come from the repos
of this run, found by their sha256 (OLD's lock records each one's checksum); a repo that no longer
carries one of them is an InputError naming them (serve OLD's repo/ as one more --repo then).

The result is the full new lock, relative to the target baseline as any lock is (so a fresh node
installing OLD and then the update ends where a node upgraded in place ends): OLD's packages the
transaction keeps, plus the ones it installs. The update bundle then carries only the packages
whose sha256 is not in OLD (bundler/assemble/update.py).
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from pathlib import Path

import solv

from ..changes import evr_cmp
from ..core.errors import InputError, ResolveError
from ..core.fileutil import atomic_write
from ..lock import Lock, Package, RoleResult, joint_key, nevra_of
from . import baseline as bl
from .direct import fetch_direct
from .manifest import load_manifest
from .metadata import close_session
from .pool import NeedFilelists
from .selection import Selection
from .solve import (
    _check_compat,
    _nevra,
    _package,
    consider,
    joint_groups,
    load_pool,
    module_texts,
    solve_role,
)

log = logging.getLogger("wcbundle")


def _sha(p: dict) -> str:
    return str(p.get("checksum", "")).partition(":")[2]


def resolve_since(sel: Selection, old: dict, progress=None) -> Lock:
    """The new lock of `sel`, solved on top of OLD's lock `old` (its JSON shape)."""
    man = load_manifest(sel.manifest_path, cache_dir=sel.cache_dir)
    requests = man.role_requests(sel)
    confs = man.effective_repos(sel)
    capture = bl.load_capture(sel.baseline) if sel.baseline not in ("minimal", "none") else None
    try:
        with tempfile.TemporaryDirectory(prefix="wcbundle-direct-") as tmp:
            direct = fetch_direct(man, sel, list(requests), Path(tmp))
            for filelists in (False, True):
                try:
                    return _since(sel, man, requests, confs, direct, filelists, capture, old, progress)
                except NeedFilelists:
                    log.info("a file dependency needs the filelists metadata: loading it and solving again")
    finally:
        close_session()
    raise AssertionError("unreachable: the filelists pass never raises NeedFilelists")  # pragma: no cover


def _by_sha(loaded) -> dict[str, object]:
    out = {}
    for repo in loaded.repos.values():
        for s in repo.solvables_iter():
            chk = s.lookup_checksum(solv.SOLVABLE_CHECKSUM)
            if chk is not None:
                out.setdefault(chk.hex(), s)
    return out


class _Target:
    """The target baseline of this run: its key, its packages' NEVRAs (cached on disk beside the
    installed repos, named by the baseline's key), and its whole records only when an installed
    repo has to be written (a warm run finds every one in the cache and never needs them)."""

    def __init__(self, sel, man, loaded, capture):
        self.sel, self.man = sel, man
        self.base = bl.make_baseline(sel, man, loaded, capture)
        self._records: list[bl.BaselinePkg] | None = None
        path = Path(sel.cache_dir) / "solv" / f"baseline-{bl.RECORDS_FORMAT}-{self.base.key}.json"
        rows = None
        if path.is_file() and not sel.refresh:
            try:
                rows = json.loads(path.read_text())
            except (OSError, ValueError):
                rows = None
        if rows is None:
            rows = [[r.name, r.epoch, r.version, r.release, r.arch] for r in self.records(loaded)]
            atomic_write(path, json.dumps(rows) + "\n")
        self.packages = [bl.BaselinePkg(n, int(e), v, r, a) for n, e, v, r, a in rows]

    def records(self, loaded) -> list[bl.BaselinePkg]:
        if self._records is None:
            self._records = (bl.minimal_records(self.sel, self.man, loaded) if self.base.kind == "minimal"
                             else list(self.base.packages))
        return self._records


def _since(sel, man, requests, confs, direct, filelists, capture, old, progress) -> Lock:
    old_pkgs = old["packages"]
    target: _Target | None = None
    described: dict = {}
    pkgs: dict[str, Package] = {}        # sha256 -> package of the new lock
    roles: dict[str, RoleResult] = {}
    joint: dict[str, RoleResult] = {}
    modules: dict[str, str] = {}
    repos: dict = {}
    # each role, then each set of roles one host holds (solve.joint_groups), solved on the node after OLD
    units = [(role, [role], names) for role, names in requests.items()]
    units += [(joint_key(g), g, list(dict.fromkeys(n for r in g for n in requests[r])))
              for g in joint_groups(sel, list(requests))]
    for role, members, names in units:
        is_joint = len(members) > 1
        if progress:
            progress(role)
        loaded = load_pool(man, sel, confs, filelists=filelists, direct=direct)
        try:
            if target is None:
                target = _Target(sel, man, loaded, capture)
                described = target.base.describe()
            base_records = target.packages
            if is_joint:   # OLD's joint closure of these roles (an older OLD without one: their roles')
                mine = [p for p in old_pkgs if role in p.get("joint", [])] if role in (old.get("joint") or {}) \
                    else [p for p in old_pkgs if set(members) & set(p.get("roles", []))]
            else:
                mine = [p for p in old_pkgs if role in p.get("roles", [])]
            index = _by_sha(loaded)
            missing = [p for p in mine if _sha(p) not in index]
            if missing:
                raise InputError(
                    f"the repos of this run no longer carry {len(missing)} package(s) of the earlier bundle's "
                    f"role{'s' if is_joint else ''} {role}: {', '.join(_nevra_of(p) for p in missing[:6])}"
                    + (" ..." if len(missing) > 6 else "") + "; their records are needed to solve the upgrade.",
                    hint="Serve the earlier bundle's repo/ directory as one more repo "
                         "(--repo old=file:///path/to/extracted/bundle/repo/ --gpgkey old=...), or point "
                         "--repo at a mirror that still has them.")
            olds = [index[_sha(p)] for p in mine]
            # the node after OLD, named by the baseline's key and OLD's packages of this role
            key = hashlib.sha256(f"{bl.RECORDS_FORMAT}|{target.base.key}|{role}|".encode()
                                 + "|".join(sorted(_sha(p) for p in mine)).encode()).hexdigest()[:24]
            state = bl.Baseline("file", f"{described.get('source')} + the earlier bundle ({role})", [],
                                key=f"since-{key}")
            cached = Path(sel.cache_dir) / "solv" / f"@System-{bl.installed_key(state, loaded.file_deps)}.solv"
            if cached.is_file() and not sel.refresh:
                state.prebuilt = True    # written by an earlier run from the same inputs
            else:
                state.packages = _installed_records(target.records(loaded), mine,
                                                    bl.records_from_solvables(loaded.pool, olds))
            bl.add_installed_repo(loaded.pool, state, sel.cache_dir, loaded.file_deps, sel.refresh)
            loaded.pool.createwhatprovides()
            consider(loaded)
            installed = {(s.name, s.arch, s.evr): s for s in loaded.pool.installed.solvables_iter()}
            upgrade_jobs = []
            for s in olds:
                inst = installed.get((s.name, s.arch, s.evr))
                if inst is not None:   # `dnf upgrade` of each package the earlier bundle installed
                    upgrade_jobs.append(loaded.pool.Job(solv.Job.SOLVER_UPDATE | solv.Job.SOLVER_SOLVABLE, inst.id))
            try:
                got = solve_role(loaded, man, role, names, upgrade_jobs)
            except ResolveError as exc:
                if not is_joint:
                    raise
                if sel.joint is not None:   # as solve.py: a site's host holds these roles
                    raise ResolveError(f"roles {', '.join(members)} share a host of the site but cannot be "
                                       f"installed together: {exc.message}",
                                       hint="Put these roles on different hosts in site.yaml, or fix the repos "
                                            "or the manifest (pins, modules).") from None
                log.warning("roles %s cannot be installed on one host (%s); each role still can.",
                            ", ".join(members), exc.message)
                continue
            gone = {o.id for o in got.upgrade_of.values()} | {o.id for os_ in got.replaces.values() for o in os_}
            kept = [p for p, s in zip(mine, olds)
                    if (inst := installed.get((s.name, s.arch, s.evr))) is None or inst.id not in gone]
            result = RoleResult(requested=list(names))
            old_role = ((old.get("joint") or {}) if is_joint else old["roles"]).get(role, {})
            result.satisfied = [r for r in got.satisfied
                                if r in old_role.get("satisfied", []) or r not in old_role.get("requested", [])]
            by_name = {(b.name, b.arch): b for b in base_records}
            entries: list[Package] = []
            for p in kept:
                sha = _sha(p)
                if sha not in pkgs:
                    pkgs[sha] = Package(**{**p, "roles": [], "joint": []})
                entries.append(pkgs[sha])
            old_replaces = {p["name"]: p.get("replaces", []) for p in mine}
            for s in sorted(got.new, key=lambda x: (x.name, x.arch)):
                pkg = _package(loaded, s)
                sha = pkg.checksum.partition(":")[2]
                if sha not in pkgs:
                    pkg.why = got.chains[s.id]
                    b = by_name.get((s.name, s.arch))
                    if b is not None and b.nevra != pkg.nevra:
                        pkg.upgrade_of = b.nevra
                    base_nevras = {r.nevra for r in base_records}
                    pkg.replaces = sorted(set(old_replaces.get(s.name, []))
                                          | {_nevra(o) for o in got.replaces.get(s.id, []) if _nevra(o) in base_nevras})
                    pkgs[sha] = pkg
                    for rid, text in module_texts(loaded, [s.id]).items():
                        if text not in modules.get(rid, ""):
                            modules[rid] = modules.get(rid, "") + text
                entries.append(pkgs[sha])
            for pkg in sorted(entries, key=lambda x: (x.name, x.arch)):
                (pkg.joint if is_joint else pkg.roles).append(role)
                getattr(result, _kind(pkg, by_name)).append(pkg.nevra)
                result.replaced.extend(pkg.replaces)
            result.replaced = sorted(set(result.replaced))
            (joint if is_joint else roles)[role] = result
            _check_compat(man, sel.el, role, got.new)
            repos.update({c.id: {"baseurls": c.baseurls, "gpgkeys": c.gpgkeys, "module_hotfixes": c.module_hotfixes,
                                 "fingerprints": list(c.fingerprints), "repo_gpgcheck": c.repo_gpgcheck}
                          for c in confs + [loaded.confs[rid] for rid in loaded.direct]})
            del got, olds, installed, upgrade_jobs
        finally:
            loaded.repos.clear()
            loaded.module_of.clear()
            del loaded
    kept_modular = {p.repo for p in pkgs.values() if p.modularity_label}
    for rid, text in (old.get("modules") or {}).items():   # documents of OLD's modular packages still kept
        if rid in kept_modular and text not in modules.get(rid, ""):
            modules[rid] = modules.get(rid, "") + text
    described["count"] = len(target.packages) if target is not None else 0
    return Lock(el=sel.el, arch="x86_64", baseline=described,
                manifest={"name": man.name, "sha256": man.sha256}, repos=repos, roles=roles,
                packages=sorted(pkgs.values(), key=lambda p: (p.name, p.arch)), modules=modules, joint=joint)


def _nevra_of(p: dict) -> str:
    return nevra_of(p)


def _kind(pkg: Package, by_name: dict) -> str:
    """install / upgrade / downgrade / reinstall relative to the target baseline (as any lock)."""
    b = by_name.get((pkg.name, pkg.arch))
    if b is None:
        return "install"
    c = evr_cmp((pkg.epoch, pkg.version, pkg.release), (b.epoch, b.version, b.release))
    return "upgrade" if c > 0 else "reinstall" if c == 0 else "downgrade"


def _installed_records(base: list[bl.BaselinePkg], mine: list[dict],
                       old_records: list[bl.BaselinePkg]) -> list[bl.BaselinePkg]:
    """The node after OLD: the baseline without what OLD's packages upgraded or replaced, plus them."""
    drop = {(r.name, r.arch) for r in old_records}
    replaced = {n for p in mine for n in p.get("replaces", [])}
    kept = [b for b in base if (b.name, b.arch) not in drop and b.nevra not in replaced]
    return kept + old_records
