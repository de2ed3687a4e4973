"""Solving: one libsolv transaction per role, against an explicit baseline -> Lock.

The pool holds the selected repos (x86_64 + noarch only) and the baseline as
libsolv's installed repo (bundler.resolve.baseline); the builder host's rpmdb is never
read. What the target's package manager would hide is hidden here too, through
libsolv's "considered" map: i686, repo include/exclude lists, version pins, and
EL8/9 modular filtering as dnf does it with module_platform_id=platform:elN
(`module_filter`).

Speed, without changing results: primary is loaded first and filelists only
when a file dependency needs it; each repo is cached as a .solv file (keyed by
its metadata checksums, with the file provides libsolv computed); the analysis
of hidden packages is cached per repo contents and manifest. Tests compare the
package sets with dnf's own solve.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import solv

from ..core.errors import ResolveError
from ..lock import Lock, Package, RoleResult, joint_key, nevra_evr
from . import baseline as bl
from .direct import Direct, DirectLoaded, _load_direct, fetch_direct  # noqa: F401 - re-exported
from .manifest import Manifest, RepoConf, check_resolved_compat, load_manifest
from .metadata import close_session, join_url, open_repo, parse_modules
from .modules import _hide_cached, module_filter  # noqa: F401
from .pool import (  # noqa: F401 - SOLV_FORMAT: older callers
    ARCHES,
    SOLV_FORMAT,
    Loaded,  # noqa: F401
    NeedFilelists,
    dnf_solver,
)
from .pool import file_problem as _file_problem
from .pool import load_repo as _load_repo
from .pool import record_added_provides as _record_added_provides
from .pool import solv_path as _solv_path
from .selection import Selection  # noqa: F401 - re-exported (cli, tests)
from .why import _chain_in_pool, why, why_chains  # noqa: F401 - re-exported

log = logging.getLogger("wcbundle")

MAX_RULES = 6         # per problem, in an error message


# -- loading --------------------------------------------------------------------

def load_pool(man: Manifest, sel: Selection, confs: list[RepoConf], filelists: bool = False,
              direct: list[Direct] | tuple = ()) -> Loaded:
    pool = solv.Pool()
    pool.setarch("x86_64")
    loaded = Loaded(pool, {c.id: c for c in confs}, {}, {}, filelists=filelists)
    fresh = {}
    for conf in confs:
        meta = open_repo(conf.id, conf.baseurls, sel.cache_dir, expire=man.metadata_expire, refresh=sel.refresh,
                         verify=repomd_verifier(conf, sel.cache_dir) if conf.repo_gpgcheck else None)
        loaded.metas[conf.id] = meta
        repo, fresh[conf.id] = _load_repo(pool, meta, sel.cache_dir, filelists, sel.refresh)
        repo.priority = -conf.priority  # dnf: lower number wins; libsolv: higher wins
        loaded.repos[conf.id] = repo
        log.debug("repo %s: %d packages from %s", conf.id, repo.nsolvables, meta.baseurl)
    for d in direct:
        _load_direct(loaded, d)
    added = pool.addfileprovides_queue()
    # the file dependencies of every loaded repo: the installed repo keeps these of its files
    loaded.file_deps = sorted(pool.id2str(fid) for fid in added)
    for conf in confs:  # (re)write a .solv when it is new or learnt new file provides
        repo = loaded.repos[conf.id]
        if _record_added_provides(repo, added) or fresh[conf.id]:
            bl.write_solv(repo, _solv_path(loaded.metas[conf.id], sel.cache_dir, filelists))
    _hide_cached(man, sel, loaded)
    return loaded  # createwhatprovides() comes once the installed repo is in (resolve)


def repomd_verifier(conf: RepoConf, cache_dir: Path):
    """verify(base, data) for open_repo: repomd.xml.asc against the repo's pinned keys (read once)."""
    from .metadata import check_repomd_signature, repo_cache_dir
    cache = repo_cache_dir(cache_dir, conf.id, conf.baseurls)
    urls, pins = conf.metadata_keys()
    got: list = []

    def keys() -> list:
        if not got:
            from ..assemble.signatures import pinned_keys
            owner = f"repo '{conf.id}'" + (" (its metadata key)" if conf.metadata_gpgkeys else "")
            got.extend(pinned_keys(owner, urls, pins))
        return got

    def verify(base: str, data: bytes) -> None:
        signer = check_repomd_signature(conf.id, base, data, cache, pins, keys)
        log.debug("repo %s: repomd.xml signed by %s", conf.id, signer)
    return verify


# -- direct RPMs (manifest el.N.direct-rpms) --------------------------------------------

def _nevra(s: solv.XSolvable) -> str:
    return nevra_evr(s.name, s.evr, s.arch)


def consider(loaded: Loaded) -> None:
    """Everything but the hidden packages (set once every repo, @System included, is loaded:
    libsolv sizes the map when it is set)."""
    ex = loaded.excluded
    loaded.pool.set_considered_list([i for i in range(2, len(loaded.pool.solvables)) if i not in ex])


# -- solving -----------------------------------------------------------------------

GLOB_CHARS = re.compile(r"[*?[]")
# dnf's installonlypkgs default: these are installed next to the installed versions, never instead
INSTALLONLY = ("kernel", "kernel-PAE", "installonlypkg(kernel)", "installonlypkg(kernel-module)",
               "installonlypkg(vm)", "multiversion(kernel)")


@dataclass
class Request:
    """One request of a role, turned into dnf's selectors: each a set of candidate solvables of which
    one must be installed (SOLVER_INSTALL | SOLVER_SOLVABLE_ONE_OF, as libdnf's sltrToJob)."""

    spec: str
    selectors: list[list[int]]


def base_jobs(pool: solv.Pool) -> list:
    """Jobs every dnf transaction carries: installonly packages are multiversion (Goal::constructJob).
    There is no SOLVER_ALLOWUNINSTALL: without --allowerasing dnf never removes an installed package,
    so libsolv may only upgrade (or, through obsoletes, replace) baseline packages."""
    return [pool.Job(solv.Job.SOLVER_MULTIVERSION | solv.Job.SOLVER_SOLVABLE_PROVIDES, pool.str2id(dep))
            for dep in INSTALLONLY]


def _visible(loaded: Loaded, sel_) -> list[int]:
    if sel_.isempty():
        return []
    return sorted({s.id for s in sel_.solvables() if s.id not in loaded.excluded})


def _obsoleters(loaded: Loaded, ids: list[int]) -> list[int]:
    """hawkey's query.filter(obsoletes=pkgs): every visible package whose Obsoletes match one of `ids`
    by name and EVR (obsoletes never match provides: libsolv's default, and dnf's)."""
    pool = loaded.pool
    out: set[int] = set()
    for sid in ids:
        s = pool.solvables[sid]
        point = pool.Dep(s.name).Rel(solv.REL_EQ, pool.Dep(s.evr))
        out.update(o.id for o in pool.whatmatchesdep(solv.SOLVABLE_OBSOLETES, point) if o.id not in loaded.excluded)
    return sorted(out)


def request_for(loaded: Loaded, spec: str, role: str) -> Request:
    """A request as `dnf install SPEC` reads it (dnf's Base.install, hawkey Subject._get_best_selectors):
    - the first form that matches wins: a name (globs allowed), name.arch, name-[epoch:]version[-release]
      [.arch], a provide (`perl(DBI)`, `name >= evr`), a path;
    - a plain name also selects the packages that obsolete it (obsoletes=True), so the obsoleting
      package is installed as dnf does;
    - a glob selects each matching name on its own (each must install), also when it matched provides;
    - installed packages are among the candidates: a request the baseline satisfies adds nothing."""
    pool = loaded.pool
    glob = solv.Selection.SELECTION_GLOB if GLOB_CHARS.search(spec) else 0
    ids = _visible(loaded, pool.select(spec, solv.Selection.SELECTION_NAME | glob))
    just_name = bool(ids)
    if not ids:
        ids = _visible(loaded, pool.select(spec, solv.Selection.SELECTION_NAME | solv.Selection.SELECTION_DOTARCH
                                           | solv.Selection.SELECTION_CANON | glob))
    if not ids:
        ids = _visible(loaded, pool.select(spec, solv.Selection.SELECTION_PROVIDES | solv.Selection.SELECTION_REL
                                           | glob))
    if not ids and spec.startswith("/"):
        ids = _visible(loaded, pool.select(spec, solv.Selection.SELECTION_FILELIST | glob))
        if not ids and not loaded.filelists:
            raise NeedFilelists()
    if not ids:
        _unknown(loaded, spec, role, glob)
    if glob and not spec.startswith("/"):   # hawkey: a glob (not a path) gives one selector per name
        by_name: dict[str, list[int]] = {}
        installed = pool.installed
        for sid in ids:
            by_name.setdefault(pool.solvables[sid].name, []).append(sid)
        selectors = []
        for name in sorted(by_name):
            group = by_name[name]
            if all(pool.solvables[i].repo == installed for i in group):
                continue  # dnf keeps an installed name only when a repo has it too
            selectors.append(sorted(set(group) | set(_obsoleters(loaded, group) if just_name else ())))
        if not selectors:
            raise ResolveError(f"role '{role}': '{spec}' matches only packages the baseline has and no repo "
                               "carries, so dnf would refuse it (no match).",
                               hint="Name the packages, or leave the request out.")
        return Request(spec, selectors)
    if just_name:
        ids = sorted(set(ids) | set(_obsoleters(loaded, ids)))
    return Request(spec, [ids])


def _unknown(loaded: Loaded, spec: str, role: str, glob: int) -> None:
    pool = loaded.pool
    flags = (solv.Selection.SELECTION_NAME | solv.Selection.SELECTION_DOTARCH | solv.Selection.SELECTION_CANON
             | solv.Selection.SELECTION_PROVIDES | solv.Selection.SELECTION_REL | glob)
    if spec.startswith("/"):
        flags |= solv.Selection.SELECTION_FILELIST
    found = pool.select(spec, flags)
    cands = [] if found.isempty() else found.solvables()
    hidden = sorted({loaded.excluded[c.id] for c in cands if c.id in loaded.excluded})
    if hidden:
        raise ResolveError(f"role '{role}': package '{spec}' exists but is hidden: {'; '.join(hidden)}.",
                           hint="Adjust the manifest (pins, modules, repo excludes) if it is really needed.")
    names = {s.name for s in pool.solvables_iter() if s.id not in loaded.excluded and s.repo != pool.installed}
    import difflib
    close = difflib.get_close_matches(spec, sorted(names), n=3, cutoff=0.6)
    raise ResolveError(f"role '{role}': no package named '{spec}' in the repos "
                       f"({', '.join(loaded.repos)}).",
                       hint=(f"Did you mean: {', '.join(close)}?" if close else "Check the spelling and the --repo list."))


def _problem_text(loaded: Loaded, role: str, requested: list, problems) -> str:
    """One paragraph: libsolv's problems with each rule explained, and the chain from a
    requested package down to the dependency that fails."""
    parts = []
    chain = None
    for n, p in enumerate(problems, 1):
        texts = []
        for rule in p.findallproblemrules():
            info = rule.info()
            text = info.problemstr()
            s = info.solvable
            if s is not None and s.id in loaded.excluded:
                text += f" (hidden: {loaded.excluded[s.id]})"
            if text not in texts:
                texts.append(text)
            if chain is None and s is not None and info.dep is not None and s.id not in loaded.excluded:
                found = _chain_in_pool(loaded, requested, s)
                if found:
                    chain = found + [str(info.dep)]
        head = f"problem {n}: " if len(problems) > 1 else ""
        texts = texts or [str(p)]
        # the root causes first; a long tail of "none of the providers" says little more
        texts.sort(key=lambda t: (not t.startswith("nothing provides"), "is disabled" not in t))
        more = f" (+{len(texts) - MAX_RULES} more)" if len(texts) > MAX_RULES else ""
        parts.append(head + "; ".join(texts[:MAX_RULES]) + more)
    text = f"role '{role}' cannot be resolved: " + " ".join(t.rstrip(".") + "." for t in parts)
    if chain:
        text += " Chain: " + " -> ".join(chain) + "."
    return text


@dataclass
class RoleSolve:
    """One role's transaction, as dnf would run it on the baseline."""

    new: list                                   # solvables the transaction installs
    upgrade_of: dict[int, object]               # new id -> the baseline package of its name it replaces
                                                # (an upgrade, or a reinstall/downgrade, see replace_kind)
    replaces: dict[int, list]                   # new id -> baseline packages it replaces through obsoletes
    chains: dict[int, list[str]]                # new id -> why chain
    satisfied: list[str]                        # requests the baseline already satisfies (nothing added)


def solve_role(loaded: Loaded, man: Manifest, role: str, names: list[str], extra_jobs: list = ()) -> RoleSolve:
    """`extra_jobs`: more libsolv jobs for the same transaction (resolve/since.py: upgrade the
    installed packages of the earlier bundle, as `dnf upgrade` does)."""
    pool = loaded.pool
    requests = [request_for(loaded, name, role) for name in names]
    jobs = base_jobs(pool) + list(extra_jobs)
    for req in requests:
        for ids in req.selectors:
            jobs.append(pool.Job(solv.Job.SOLVER_INSTALL | solv.Job.SOLVER_SOLVABLE_ONE_OF, pool.towhatprovides(ids)))
    solver = dnf_solver(pool, man.weak_deps)
    problems = solver.solve(jobs)
    if problems and not loaded.filelists and _file_problem(problems):
        raise NeedFilelists()
    if problems:
        roots = [pool.solvables[i] for req in requests for ids in req.selectors for i in ids]
        raise ResolveError(_problem_text(loaded, role, roots, problems),
                           hint="Fix the repo list or the manifest (pins, modules), or add the missing repo.")
    trans = solver.transaction()
    new = list(trans.newsolvables())
    members = {s.id: s for s in new}
    upgrade_of: dict[int, object] = {}
    replaces: dict[int, list] = {}
    for s in new:
        for other in trans.allothersolvables(s):
            if other.repo != pool.installed:
                continue
            if other.name == s.name:
                upgrade_of[s.id] = other
            else:
                replaces.setdefault(s.id, []).append(other)
    upgraded = {o.id for o in upgrade_of.values()}
    # an installed package that a package of its own name replaces is upgraded, not obsoleted, even when
    # another new package obsoletes it too (libsolv's transaction types; dnf's list_obsoleted)
    replaces = {sid: kept for sid, olds in replaces.items() if (kept := [o for o in olds if o.id not in upgraded])}
    gone = {o.id for olds in replaces.values() for o in olds} | upgraded
    erased = [s for s in trans.steps() if s.repo == pool.installed and s.id not in gone]
    if erased:  # never: no SOLVER_ALLOWUNINSTALL; kept as a guard on what the bundle may promise
        raise ResolveError(f"role '{role}' would remove baseline packages: "
                           f"{', '.join(_nevra(s) for s in erased)}.")
    roots, satisfied = [], []
    for req in requests:
        chosen = [pool.solvables[i] for ids in req.selectors for i in ids if i in members]
        roots.extend(chosen[:1])
        if not chosen:
            have = sorted({_nevra(pool.solvables[i]) for ids in req.selectors for i in ids
                           if pool.solvables[i].repo == pool.installed})
            satisfied.append(req.spec)
            log.info("role %s: %s is already installed in the baseline (%s): nothing to add",
                     role, req.spec, ", ".join(have) or "an installed package provides it")
    chains = why_chains(pool, roots, members, man.weak_deps)
    for s in new:  # reached only through a file or rich dependency: say at least what asked
        chains.setdefault(s.id, [r.name for r in roots[:1]] + [s.name])
    return RoleSolve(new, upgrade_of, replaces, chains, satisfied)


# -- the lock --------------------------------------------------------------------

def _merge_solved(loaded: Loaded, got, pkgs: dict, result: RoleResult):
    """Add one solve's new packages to the lock's packages (each created once, by the first solve that
    needs it) and to `result` by kind; yield each package for the caller to mark (its role or joint job)."""
    for s in sorted(got.new, key=lambda x: (x.name, x.arch)):
        kind = replace_kind(s, got.upgrade_of.get(s.id))
        pkg = pkgs.get(s.id)
        if pkg is None:
            pkg = pkgs[s.id] = _package(loaded, s)
            pkg.why = got.chains[s.id]
            if kind in ("upgrade", "downgrade"):
                pkg.upgrade_of = _nevra(got.upgrade_of[s.id])
            pkg.replaces = sorted(_nevra(o) for o in got.replaces.get(s.id, []))
        yield pkg
        getattr(result, kind).append(pkg.nevra)
        result.replaced.extend(_nevra(o) for o in got.replaces.get(s.id, []))
    result.replaced.sort()


def _package(loaded: Loaded, s) -> Package:
    epoch, version, release = bl.split_evr(s.evr)
    ref = loaded.module_of.get(s.id)
    label = ref[2] if ref else None
    direct = loaded.direct.get(s.repo.name)
    if direct is not None:  # the lock names it as any repo's package: baseurl = the URL's directory
        d = direct.direct
        url, checksum, size = d.entry.url, f"sha256:{d.sha256}", d.path.stat().st_size
        location = url.rsplit("/", 1)[-1]
    else:
        meta = loaded.metas[s.repo.name]
        location = s.lookup_location()[0]
        chk = s.lookup_checksum(solv.SOLVABLE_CHECKSUM)
        url, checksum = join_url(meta.baseurl, location), f"{chk.typestr()}:{chk.hex()}" if chk else ""
        size = s.lookup_num(solv.SOLVABLE_DOWNLOADSIZE) or 0
    return Package(name=s.name, epoch=epoch, version=version, release=release, arch=s.arch,
                   repo=s.repo.name, location=location, url=url, checksum=checksum, size=size,
                   license=s.lookup_str(solv.SOLVABLE_LICENSE) or "", vendor=s.vendor or "",
                   sourcerpm=s.lookup_sourcepkg() or "", modularity_label=label)


def resolve(sel: Selection, progress=None) -> Lock:
    """Resolve every requested role of `sel` into one Lock."""
    man = load_manifest(sel.manifest_path, cache_dir=sel.cache_dir)
    requests = man.role_requests(sel)
    confs = man.effective_repos(sel)
    # a capture is read and checked before any network access: a bad one fails fast (exit 3)
    capture = bl.load_capture(sel.baseline) if sel.baseline not in ("minimal", "none") else None
    # primary alone first (fast); the filelists metadata only when a file dependency needs it,
    # as dnf5 does (loading filelists made solving 1.64x slower: libdnf #1674)
    if any(set(d.roles) & set(requests) for d in man.for_el(sel.el).direct_rpms):
        import tempfile
        workdir = tempfile.TemporaryDirectory(prefix="wcbundle-direct-")
    else:  # no direct RPM: no temp dir (a warm resolve is mostly start-up; tempfile is not needed)
        import contextlib
        workdir = contextlib.nullcontext(None)
    try:
        with workdir as tmp:
            direct = fetch_direct(man, sel, list(requests), Path(tmp)) if tmp is not None else []
            for filelists in (False, True):
                loaded = load_pool(man, sel, confs, filelists=filelists, direct=direct)
                try:
                    return _resolve_loaded(sel, man, requests, confs, loaded, progress, capture)
                except NeedFilelists:
                    log.info("a file dependency needs the filelists metadata: loading it and solving again")
                finally:
                    loaded.repos.clear()
                    loaded.module_of.clear()
    finally:
        close_session()  # the metadata GETs of this resolve shared one http(s) Session
    raise AssertionError("unreachable: the filelists pass never raises NeedFilelists")  # pragma: no cover


def _resolve_loaded(sel: Selection, man: Manifest, requests: dict, confs: list, loaded: Loaded,
                    progress, capture: bl.Baseline | None = None) -> Lock:
    base = bl.make_baseline(sel, man, loaded, capture)
    bl.add_installed_repo(loaded.pool, base, sel.cache_dir, loaded.file_deps, sel.refresh)
    loaded.pool.createwhatprovides()
    consider(loaded)
    requests = {role: list(names) for role, names in requests.items()}
    for dl in loaded.direct.values():  # requested, by name, by each role it names
        name = loaded.pool.solvables[dl.sid].name
        for role in dl.direct.entry.roles:
            if role in requests and name not in requests[role]:
                requests[role].append(name)
    pkgs: dict[int, Package] = {}
    roles: dict[str, RoleResult] = {}
    for role, names in requests.items():
        if progress:
            progress(role)
        got = solve_role(loaded, man, role, names)
        result = RoleResult(requested=list(names), satisfied=got.satisfied)
        for pkg in _merge_solved(loaded, got, pkgs, result):
            pkg.roles.append(role)
        roles[role] = result
        _check_compat(man, sel.el, role, got.new)
    joint: dict[str, RoleResult] = {}
    for group in joint_groups(sel, list(requests)):
        key = joint_key(group)
        names = list(dict.fromkeys(n for role in group for n in requests[role]))
        if progress:
            progress(key)
        try:
            got = solve_role(loaded, man, key, names)   # one transaction, as dnf installs them together
        except ResolveError as exc:
            if sel.joint is not None:   # the site puts these roles on one host: that host could not install
                raise ResolveError(f"roles {', '.join(group)} share a host of the site but cannot be installed "
                                   f"together: {exc.message}",
                                   hint="Put these roles on different hosts in site.yaml, or fix the repos or "
                                        "the manifest (pins, modules).") from None
            # no site: nothing says these roles share a host; each still installs on its own
            log.warning("roles %s cannot be installed on one host (%s); each role still can. Build with --site "
                        "to check the role sets your hosts really hold.", ", ".join(group), exc.message)
            continue
        result = RoleResult(requested=names, satisfied=got.satisfied)
        # a package only this joint closure has (e.g. an upgrade one role's closure forces) is added here
        for pkg in _merge_solved(loaded, got, pkgs, result):
            pkg.joint.append(key)
        joint[key] = result
        _check_compat(man, sel.el, key, got.new)
        only = sorted(_nevra(s) for s in got.new if not pkgs[s.id].roles)
        if only:
            log.info("roles %s together need %d package(s) no single role's closure has: %s",
                     key, len(only), ", ".join(only))
    modules = module_texts(loaded, list(pkgs))
    repos = {c.id: {"baseurls": c.baseurls, "gpgkeys": c.gpgkeys, "module_hotfixes": c.module_hotfixes,
                    "fingerprints": list(c.fingerprints), "repo_gpgcheck": c.repo_gpgcheck}
             for c in confs + [loaded.confs[rid] for rid in loaded.direct]}
    described = base.describe()
    described["count"] = loaded.pool.installed.nsolvables
    if base.kind == "file" and base.version < bl.CAPTURE_VERSION:
        described["format"] = base.version  # an old capture: installed packages' requires were unknown
    return Lock(el=sel.el, arch="x86_64", baseline=described,
                manifest={"name": man.name, "sha256": man.sha256}, repos=repos, roles=roles,
                packages=sorted(pkgs.values(), key=lambda p: (p.name, p.arch)), modules=modules, joint=joint)


def joint_groups(sel: Selection, roles: list[str]) -> list[list[str]]:
    """The role sets to solve as one job each, in the order of `roles`, each of two roles or more, once:
    sel.joint (a site's nodes' role sets), or, without a site, all the selected roles together."""
    wanted = [roles] if sel.joint is None else sel.joint
    out: dict[str, list[str]] = {}
    for group in wanted:
        mine = [r for r in roles if r in set(group)]
        if len(mine) >= 2:
            out.setdefault(joint_key(mine), mine)
    return list(out.values())


def module_texts(loaded: Loaded, sids) -> dict[str, str]:
    """repo -> the module documents (and their defaults) of the modular packages among `sids`."""
    modules: dict[str, str] = {}
    for sid in sids:
        ref = loaded.module_of.get(sid)
        if ref is not None:
            rid, i, _ = ref
            idx = loaded.modules.get(rid)
            if idx is None:  # warm run: the hidden-package cache spared the parse until now
                idx = loaded.modules[rid] = parse_modules(loaded.metas[rid].read("modules"), f"repo '{rid}'")
            doc = idx.docs[i]
            text = modules.get(rid, "")
            if doc.text not in text:
                dflt = idx.default_texts.get(doc.name, "")
                modules[rid] = text + doc.text + (dflt if dflt and dflt not in text else "")
    return modules


def replace_kind(new, old) -> str:
    """install (nothing of its name installed), upgrade, reinstall (the same EVR: the baseline's record
    lacks something the repo's has, e.g. a file; dnf reinstalls it too) or downgrade."""
    if old is None:
        return "install"
    cmp = new.evrcmp(old)
    return "upgrade" if cmp > 0 else "reinstall" if cmp == 0 else "downgrade"


def _check_compat(man: Manifest, el: int, role: str, new: list) -> None:
    byname = {s.name: s.evr.split(":", 1)[-1].rsplit("-", 1)[0] for s in new}
    if "rabbitmq-server" in byname and "erlang" in byname:
        check_resolved_compat(man, el, byname["rabbitmq-server"], byname["erlang"])


@dataclass
class SetResult:
    """A solve as plain NEVRAs (no libsolv object outlives its pool)."""

    install: list[str]                 # new packages (new names, obsoleting ones included)
    upgrade: dict[str, str]            # new NEVRA -> the baseline NEVRA of the same name it upgrades
    reinstall: list[str]
    downgrade: dict[str, str]
    replaced: dict[str, list[str]]     # new NEVRA -> baseline NEVRAs it replaces through obsoletes
    satisfied: list[str]               # requests the baseline already satisfies


def resolve_sets(sel: Selection, sets: list[list[str]]) -> list[SetResult | ResolveError]:
    """Solve many requests against one loaded pool and baseline (sel.installs is ignored): each set as
    the role 'custom' of its own `wcbundle resolve --install ...` run, with the same two passes (primary,
    then filelists when a file dependency needs them). For the dnf oracle tests and the benchmark."""
    man = load_manifest(sel.manifest_path, cache_dir=sel.cache_dir)
    confs = man.effective_repos(sel)
    capture = bl.load_capture(sel.baseline) if sel.baseline not in ("minimal", "none") else None
    out: list[SetResult | ResolveError | None] = [None] * len(sets)
    try:
        for filelists in (False, True):
            loaded = load_pool(man, sel, confs, filelists=filelists)
            try:
                try:
                    base = bl.make_baseline(sel, man, loaded, capture)
                except NeedFilelists:
                    continue
                bl.add_installed_repo(loaded.pool, base, sel.cache_dir, loaded.file_deps, sel.refresh)
                loaded.pool.createwhatprovides()
                consider(loaded)
                for i, names in enumerate(sets):
                    if out[i] is not None:
                        continue
                    try:
                        got = solve_role(loaded, man, "custom", names)
                    except NeedFilelists:
                        if filelists:
                            raise
                        continue
                    except ResolveError as exc:
                        out[i] = exc
                        continue
                    kinds = {x.id: replace_kind(x, got.upgrade_of.get(x.id)) for x in got.new}
                    out[i] = SetResult(
                        install=sorted(_nevra(x) for x in got.new if kinds[x.id] == "install"),
                        upgrade={_nevra(x): _nevra(got.upgrade_of[x.id]) for x in got.new if kinds[x.id] == "upgrade"},
                        reinstall=sorted(_nevra(x) for x in got.new if kinds[x.id] == "reinstall"),
                        downgrade={_nevra(x): _nevra(got.upgrade_of[x.id]) for x in got.new
                                   if kinds[x.id] == "downgrade"},
                        replaced={_nevra(x): sorted(_nevra(r) for r in rs) for x in got.new
                                  if (rs := got.replaces.get(x.id))},
                        satisfied=got.satisfied)
                    del got
                if all(o is not None for o in out):
                    break
            finally:
                loaded.repos.clear()
                loaded.module_of.clear()
                del loaded
    finally:
        close_session()
    return out  # type: ignore[return-value]


def baseline_records(sel: Selection) -> list[bl.BaselinePkg]:
    """The installed packages `sel.baseline` stands for, as whole records (minimal: solved from the base
    repo's metadata as resolve() does; a capture: as read; none: nothing)."""
    if sel.baseline == "none":
        return []
    if sel.baseline != "minimal":
        return bl.load_capture(sel.baseline).packages
    man = load_manifest(sel.manifest_path, cache_dir=sel.cache_dir)
    try:
        for filelists in (False, True):
            loaded = load_pool(man, sel, man.effective_repos(sel), filelists=filelists)
            try:
                return bl.minimal_records(sel, man, loaded)
            except NeedFilelists:
                continue
            finally:
                loaded.repos.clear()
                loaded.module_of.clear()
    finally:
        close_session()
    raise AssertionError("unreachable: the filelists pass never raises NeedFilelists")  # pragma: no cover
