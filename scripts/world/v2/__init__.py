"""Patch day (issue 14): the fixture world at two points in time, v1 and v2, signed by the same keys.

`ensure_v2(el)` -> (v1, v2), two `World`s under $XDG_CACHE_HOME/wcbundle-world/el<N>-v2-<hash>/:
  v1/  exactly what `plan(el)` builds (the ordinary world's packages, with this build's keys)
  v2/  the same repos a quarter later: every v1 RPM (the same files, hard-linked) plus newer
       builds of MariaDB (all MariaDB-* of the newest release), galera-4, erlang, rabbitmq-server
       and OpenJDK 8 (`java-1.8.0-openjdk-headless`; on EL7 a clone of the real 7.5 record in
       c7-updates, on EL8/9 in AppStream), as a real mirror grows: old builds stay.
Both snapshots share one set of repo keys (a vendor key does not change between patch releases),
so a root installed from v1 trusts v2's packages through the same keys.

The cache key is the ordinary world's inputs hash plus this package's code. The ordinary world's
key does not cover this subpackage (scripts/world/plan.py hashes only scripts/world/*.py), so
building or changing v2 never invalidates or rebuilds v1. Same flock and temp-dir-then-rename
discipline as scripts/world/__init__.py.
"""

from __future__ import annotations

import copy
import fcntl
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from .. import World, cache_root, inputs_hash
from ..pkg import Dep, Pkg
from ..plan import BASE_REPO, REPO_IDS

__all__ = ["ensure_v2", "CHANGED", "changed_names"]

# the packages that get a newer build in v2 (names; MariaDB-* means every MariaDB package of
# the newest release, as a MariaDB point release rebuilds them all)
CHANGED = ("MariaDB-*", "galera-4", "erlang", "rabbitmq-server", "java-1.8.0-openjdk-headless")
JAVA_REPO = {7: "c7-updates", 8: "el8-appstream", 9: "el9-appstream"}


def _bump(old: Pkg, release: str) -> Pkg:
    """A newer build of `old`: the release moves, and so does every dependency naming old's own EVR
    (its self-provides, MariaDB's `mariadb = 1:EVR` alternatives, `config(...) = EVR`)."""
    new = copy.deepcopy(old)
    new.release = release
    new.modelled = True

    def mv(d: Dep) -> Dep:
        if d.ver == old.version and d.rel == old.release:
            return Dep(d.name, d.flags, d.epoch, d.ver, release, d.pre)
        return d
    new.provides = [mv(d) for d in new.provides]
    new.requires = [mv(d) for d in new.requires]
    new.obsoletes = [mv(d) for d in new.obsoletes]
    new.conflicts = [mv(d) for d in new.conflicts]
    return new


def _next_release(release: str) -> str:
    """1.el7.centos -> 2.el7.centos; 8.b10.el7_5 -> 8.b10.el7_5.1 (no leading number: a suffix)."""
    head, dot, tail = release.partition(".")
    return f"{int(head) + 1}{dot}{tail}" if head.isdigit() else f"{release}.1"


def _newest(pkgs: list[Pkg], name: str) -> Pkg | None:
    from bundler.changes import evr_cmp
    same = [p for p in pkgs if p.name == name and p.arch in ("x86_64", "noarch")]
    if not same:
        return None
    best = same[0]
    for p in same[1:]:
        if evr_cmp((p.epoch, p.version, p.release), (best.epoch, best.version, best.release)) > 0:
            best = p
    return best


def changes(el: int, repos: dict[str, list[Pkg]]) -> dict[str, list[Pkg]]:
    """repo id -> the newer builds v2 adds to it."""
    out: dict[str, list[Pkg]] = {}
    mdb = repos["mariadb"]
    server = _newest(mdb, "MariaDB-server")
    galera = _newest(mdb, "galera-4")
    for p in mdb:
        if (p.name.startswith("MariaDB-") and (p.version, p.release) == (server.version, server.release)) \
                or p is galera:
            out.setdefault("mariadb", []).append(_bump(p, _next_release(p.release)))
    for repo, name in (("erlang", "erlang"), ("rabbitmq", "rabbitmq-server")):
        old = _newest(repos[repo], name)
        out.setdefault(repo, []).append(_bump(old, _next_release(old.release)))
    everything = [p for ps in repos.values() for p in ps]
    java = _newest(everything, "java-1.8.0-openjdk-headless")
    out.setdefault(JAVA_REPO[el], []).append(_bump(java, _next_release(java.release)))
    return out


def changed_names(el: int) -> list[str]:
    """The package names v2 changes (for tests: what an update from v1 to v2 may carry)."""
    from ..plan import plan
    return sorted({p.name for ps in changes(el, plan(el)).values() for p in ps})


def v2_hash(el: int) -> str:
    h = hashlib.sha256(f"v2|{inputs_hash(el)}".encode())
    for path in sorted(Path(__file__).parent.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def ensure_v2(el: int = 7, *, rebuild: bool = False) -> tuple[World, World]:
    """(v1, v2) worlds for EL `el`, built once per machine and input set. Safe from parallel processes."""
    if el not in REPO_IDS:
        raise ValueError(f"no fixture world for EL{el} (have: {sorted(REPO_IDS)})")
    digest = v2_hash(el)
    base = cache_root()
    root = base / f"el{el}-v2-{digest[:16]}"

    def worlds() -> tuple[World, World]:
        return World(el, root / "v1"), World(el, root / "v2")
    if (root / "v2" / "WORLD.json").is_file() and not rebuild:
        return worlds()
    base.mkdir(parents=True, exist_ok=True)
    with open(base / f".el{el}-v2.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (root / "v2" / "WORLD.json").is_file() and not rebuild:
            return worlds()
        for stale in base.glob(f".tmp-el{el}-v2-*"):
            shutil.rmtree(stale, ignore_errors=True)
        tmp = base / f".tmp-el{el}-v2-{digest[:16]}-{os.getpid()}"
        try:
            _build(el, tmp, digest)
            if root.exists():
                shutil.rmtree(root)
            os.rename(tmp, root)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        now = time.time()
        for old in base.glob(f"el{el}-v2-*"):   # older v2 inputs, once nobody can still read them
            stamp = old / "v2" / "WORLD.json"
            if old != root and stamp.is_file() and now - stamp.stat().st_mtime > 6 * 3600:
                shutil.rmtree(old, ignore_errors=True)
    return worlds()


def _say(msg: str) -> None:
    print(f"world v2: {msg}", file=sys.stderr, flush=True)


def _build(el: int, dest: Path, digest: str) -> None:
    from bundler.core.run import run

    from .. import model
    from ..build import key_fingerprint, key_uid, make_keys, make_repodata, sign, sign_repomd
    from ..plan import comps_source, plan
    from ..realmeta import filter_comps
    from ..rpmspec import build_rpms
    t0 = time.monotonic()
    v1 = plan(el)
    new = changes(el, v1)
    _say(f"EL{el}: v2 adds " + ", ".join(f"{p.name}-{p.version}-{p.release}" for ps in new.values() for p in ps))
    work = Path(tempfile.mkdtemp(prefix="wcbw2-"))
    gnupg = work / "g"
    gnupg.mkdir(mode=0o700)
    try:
        keys = make_keys(el, gnupg, dest / "v1" / f"el{el}" / "keys")
        shutil.copytree(dest / "v1" / f"el{el}" / "keys", dest / "v2" / f"el{el}" / "keys")
        fprs = {repo: key_fingerprint(gnupg, key_uid(el, repo)) for repo in REPO_IDS[el]}
        for snap, extra in (("v1", {}), ("v2", new)):
            summary = {}
            for repo in REPO_IDS[el]:
                repo_dir = dest / snap / f"el{el}" / repo
                pkgdir = repo_dir / "Packages"
                added = extra.get(repo, [])
                if snap == "v1":
                    rpms = build_rpms(v1[repo], work / "build", pkgdir, repo)
                    sign(rpms, el, repo, gnupg)
                else:
                    pkgdir.mkdir(parents=True)
                    for rpm in (dest / "v1" / f"el{el}" / repo / "Packages").glob("*.rpm"):
                        os.link(rpm, pkgdir / rpm.name)   # the same signed files as v1
                    if added:
                        rpms = build_rpms(added, work / "build2", work / "new" / repo, f"{repo}-v2")
                        sign(rpms, el, repo, gnupg)
                        for rpm in rpms:
                            os.replace(rpm, pkgdir / rpm.name)
                pkgs = v1[repo] + added
                shutil.copy2(keys[repo], repo_dir / f"RPM-GPG-KEY-{repo}")
                comps = None
                if repo == BASE_REPO[el]:
                    comps = work / f"comps-{repo}.xml"
                    comps.write_bytes(filter_comps(comps_source(el), {p.name for p in pkgs}))
                modules = None
                if any(p.modularity_label for p in pkgs):
                    modules = model.el8_modules_yaml(pkgs) if el == 8 else model.modules_yaml(pkgs)
                make_repodata(repo_dir, comps, modules, work)
                sign_repomd(repo_dir, el, repo, gnupg)
                summary[repo] = {"fingerprint": fprs[repo], "packages": len(pkgs),
                                 "modelled": all(p.modelled for p in pkgs) if pkgs else True,
                                 "nevras": sorted(p.nevra for p in pkgs),
                                 "added_in_v2": sorted(p.nevra for p in added)}
            info = {"el": el, "snapshot": snap, "inputs_sha256": digest,
                    "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "build_seconds": round(time.monotonic() - t0, 1), "repos": summary}
            (dest / snap / "WORLD.json").write_text(json.dumps(info, indent=1) + "\n")
    finally:
        run(["gpgconf", "--homedir", str(gnupg), "--kill", "gpg-agent"], check=False)
        shutil.rmtree(work, ignore_errors=True)
    _say(f"EL{el}: v1 + v2 built in {round(time.monotonic() - t0, 1)} s")
