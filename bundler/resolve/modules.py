"""What the target's package manager would hide, hidden here too: repo include/exclude lists,
version pins, and EL8/9 modular filtering as dnf does it (module_platform_id=platform:elN);
the analysis is cached per repo contents and manifest."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import solv

from ..lock import nevra_evr
from .manifest import Manifest
from .metadata import parse_modules
from .pool import ARCHES, SOLV_FORMAT, Loaded
from .pool import solv_path as _solv_path
from .selection import Selection

log = logging.getLogger("wcbundle")

def _nevra(s: solv.XSolvable) -> str:
    return nevra_evr(s.name, s.evr, s.arch)


def _hide_cached(man: Manifest, sel: Selection, loaded: Loaded) -> None:
    """_hide(), remembered: its result depends only on the manifest, the repos' contents and
    their order (which fix the solvable ids), so a warm run reads it instead of walking every
    package and parsing modules.yaml again."""
    ident = [SOLV_FORMAT, man.sha256, sel.el, loaded.filelists,
             [[repr(c), loaded.direct[c.id].direct.sha256] if c.id in loaded.direct else
              [repr(c), _solv_path(loaded.metas[c.id], sel.cache_dir, loaded.filelists).name,
               loaded.metas[c.id].checksum("modules")] for c in loaded.confs.values()]]
    key = hashlib.sha256(json.dumps(ident).encode()).hexdigest()[:24]
    path = Path(sel.cache_dir) / "solv" / f"hidden-{key}.json"
    try:
        if sel.refresh:
            raise OSError("--refresh: computed again")
        data = json.loads(path.read_text())
        reasons = data["reasons"]
        loaded.excluded = {sid: reasons[i] for sid, i in data["excluded"]}
        loaded.module_of = {sid: (rid, i, label) for sid, rid, i, label in data["module_of"]}
        return
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        pass
    _hide(man, sel, loaded)
    reasons = sorted(set(loaded.excluded.values()))
    index = {r: i for i, r in enumerate(reasons)}
    data = {"reasons": reasons, "excluded": [[sid, index[r]] for sid, r in loaded.excluded.items()],
            "module_of": [[sid, *ref] for sid, ref in loaded.module_of.items()]}
    from .metadata import cache_write
    cache_write(path, json.dumps(data).encode())


def _hide(man: Manifest, sel: Selection, loaded: Loaded) -> None:
    """Fill loaded.excluded: arch, include/exclude lists, pins, modular filtering."""
    ex = loaded.excluded
    pinned = man.pin_regex(sel.el)
    for rid, repo in loaded.repos.items():
        conf = loaded.confs[rid]
        for s in repo.solvables_iter():
            if s.arch not in ARCHES:
                ex[s.id] = f"arch {s.arch} (only {'/'.join(ARCHES)} are solved for)"
            elif not conf.admits(s.name):
                ex[s.id] = f"includepkgs/excludepkgs of repo '{rid}'"
            elif pinned is not None and pinned.match(s.name):
                pin = man.pin_for(s.name, sel.el)
                if pin:
                    version = s.evr.split(":", 1)[-1].rsplit("-", 1)[0]
                    if version != pin[1] and not version.startswith(pin[1] + "."):
                        ex[s.id] = f"the manifest pins {pin[0]} to {pin[1]}"
    if sel.el >= 8:
        module_filter(man, sel, loaded)


def module_filter(man: Manifest, sel: Selection, loaded: Loaded) -> None:
    """dnf's modular filtering with module_platform_id=platform:elN."""
    conf = man.for_el(sel.el)
    platform = f"el{sel.el}"
    for rid, meta in loaded.metas.items():
        if meta.has("modules"):
            loaded.modules[rid] = parse_modules(meta.read("modules"), f"repo '{rid}'")
    if not loaded.modules:
        return
    defaults: dict[str, str] = {}
    for idx in loaded.modules.values():
        defaults.update(idx.defaults)
    enabled = {m: s for m, s in defaults.items() if m not in conf.modules.disable}
    for spec in conf.modules.enable:
        name, stream = spec.split(":", 1)
        enabled[name] = stream
    active: dict[str, tuple] = {}    # NEVRA -> (repo, doc index, label)
    inactive: dict[str, str] = {}    # NEVRA -> reason
    for rid, idx in loaded.modules.items():
        for i, doc in enumerate(idx.docs):
            ok = enabled.get(doc.name) == doc.stream
            ok = ok and (not doc.platforms or platform in doc.platforms)
            ok = ok and all(not streams or enabled.get(m) in streams or m not in enabled
                            for m, streams in doc.requires.items())
            ref = (rid, i, f"{doc.name}:{doc.stream}:{doc.version}:{doc.context}")
            for nevra in doc.artifacts:
                if ok:
                    active[nevra] = ref
                elif nevra not in active:
                    inactive[nevra] = f"module stream {doc.name}:{doc.stream} is not enabled"
    for nevra in active:
        inactive.pop(nevra, None)
    names = {n.rsplit("-", 2)[0] for n in active}
    for rid, repo in loaded.repos.items():
        hotfix = loaded.confs[rid].module_hotfixes
        for s in repo.solvables_iter():
            key = _nevra(s)
            if key in active:
                loaded.module_of[s.id] = active[key]
            elif hotfix:  # libdnf: module_hotfixes repos are never filtered
                continue
            elif key in inactive:
                loaded.excluded.setdefault(s.id, inactive[key])
            else:
                hit = s.name if s.name in names else next(
                    (str(d).split(" ", 1)[0] for d in s.lookup_deparray(solv.SOLVABLE_PROVIDES)
                     if str(d).split(" ", 1)[0] in names), None)
                if hit:
                    loaded.excluded.setdefault(
                        s.id, f"an enabled module stream provides '{hit}' (set module_hotfixes on repo '{rid}')")
