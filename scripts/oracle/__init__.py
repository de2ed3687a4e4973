"""dnf as the oracle: real rpmdb roots holding a baseline, and dnf's own solves on them.

`ensure_root(el)` returns a directory R whose rpmdb (R/var/lib/rpm) holds the EL
release's @core exactly as dnf installs it (`dnf group install core` on an empty
root, weak deps on) from the real metadata in tests/data/realmeta. Each package
is a header-only RPM built with rpmbuild from the repo metadata: its real
provides, requires (pre included), conflicts, obsoletes, weak deps and every
file of filelists (as %ghost entries: the payload is empty), installed with
`rpm --root R -i --justdb --nodeps --noscripts`.

Roots are cached per machine under $XDG_CACHE_HOME/wcbundle-oracle/el<N>-<hash>/
(the hash covers this package's code, the realmeta files and dnf's version),
built in a temp dir under an flock and renamed into place, as scripts/world does.

`ensure_root(el, aged=True)` is the same @core with every package one build
older than the repo's (release "0.<release>", every self-referencing EVR moved
with it) plus a few packages that other repo packages obsolete (AGED_EXTRA): a
target that was installed earlier and never updated, so that solves must
upgrade installed packages and replace some through obsoletes.

`dnf_solve(job)` runs scripts/oracle/dnf_solve.py with the system python
(python3-dnf) and returns its results.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

from bundler.core.run import run

PROJECT = Path(__file__).resolve().parents[2]
REALMETA = PROJECT / "tests" / "data" / "realmeta"
# repo id -> metadata dir; ids the manifest does not know, so no manifest repo options apply
REPOS = {7: {"c7": REALMETA / "centos7.5-dvd-x86_64"}, 9: {"cs9": REALMETA / "cs9-baseos-2022-x86_64"}}
EXCLUDE = ["*.i686"]          # wcbundle solves for x86_64 + noarch only, and so does the bundle repo
DNF_PY = "/usr/bin/python3"
DBPATH = "/var/lib/rpm"
ROOT_FORMAT = "2"
# installed on the aged root next to @core: packages a repo package obsoletes
AGED_EXTRA = {7: ["python-rhsm", "python-rhsm-certificates"], 9: []}


def have_dnf() -> bool:
    return Path(DNF_PY).exists() and shutil.which("rpmbuild") is not None and \
        run([DNF_PY, "-c", "import dnf"], check=False).returncode == 0


def repo_urls(el: int) -> dict[str, str]:
    return {rid: path.as_uri() for rid, path in REPOS[el].items()}


def dnf_solve(job: dict, timeout: float = 900) -> list[dict]:
    """Run dnf_solve.py on `job` (see its docstring)."""
    job = {"releasever": str(job.get("el", 7)), "exclude": EXCLUDE, **job}
    res = run([DNF_PY, str(Path(__file__).with_name("dnf_solve.py"))], input=json.dumps(job).encode(), timeout=timeout)
    return json.loads(res.stdout)


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "wcbundle-oracle"


def _inputs_hash(el: int) -> str:
    h = hashlib.sha256(f"el{el}|{ROOT_FORMAT}".encode())
    for path in sorted(Path(__file__).parent.glob("*.py")):
        h.update(path.read_bytes())
    for repo in REPOS[el].values():
        for path in sorted((repo / "repodata").iterdir()):
            h.update(path.name.encode())
    h.update(run([DNF_PY, "-c", "import dnf; print(dnf.VERSION)"]).stdout.encode())
    return h.hexdigest()[:16]


def ensure_root(el: int, aged: bool = False) -> Path:
    """The cached rpmdb root of EL `el`'s @core (see the module docstring). Safe in parallel."""
    digest = _inputs_hash(el)
    base = cache_root()
    kind = f"el{el}-aged" if aged else f"el{el}"
    root = base / f"{kind}-{digest}"
    if (root / "ROOT.json").is_file():
        return root
    base.mkdir(parents=True, exist_ok=True)
    with open(base / f".{kind}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (root / "ROOT.json").is_file():
            return root
        tmp = base / f".tmp-{kind}-{digest}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            _build_root(el, tmp, aged)
            for old in base.glob(f"{kind}-*"):
                if len(old.name) == len(root.name):   # el7-<hash> never takes el7-aged-<hash> along
                    shutil.rmtree(old, ignore_errors=True)
            os.rename(tmp, root)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return root


def _build_root(el: int, dest: Path, aged: bool = False) -> None:
    from .headers import build_header_rpms
    dest.mkdir(parents=True)
    work = dest / "work"
    empty = work / "empty-root"
    empty.mkdir(parents=True)
    core = dnf_solve({"el": el, "root": str(empty), "work": str(work / "dnf"), "repos": repo_urls(el),
                      "weak": True, "group": "core", "sets": []})[0]
    if not core["ok"]:
        raise RuntimeError(f"dnf group install core failed on EL{el}: {core['error']}")
    nevras = sorted(core["install"])
    if aged:
        from scripts.world.realmeta import read_primary, repodata_file
        extra = {p.nevra for repo in REPOS[el].values() for p in read_primary(repodata_file(repo, "primary.xml.gz"))
                 if p.name in AGED_EXTRA[el] and p.arch in ("x86_64", "noarch")}
        nevras = sorted(set(nevras) | extra)
    print(f"oracle: EL{el} @core{' (aged)' if aged else ''} is {len(nevras)} packages; building header-only RPMs",
          file=sys.stderr)
    rpms = build_header_rpms(el, REPOS[el], nevras, work / "build", aged=aged)
    root = dest / "root"
    root.mkdir()
    run(["rpm", "--root", str(root), "--dbpath", DBPATH, "--initdb"])
    run(["rpm", "--root", str(root), "--dbpath", DBPATH, "-i", "--justdb", "--nodeps", "--noscripts",
         "--notriggers", "--replacefiles", "--replacepkgs", "--ignorearch", "--ignoreos", "--nosignature"]
        + [str(p) for p in rpms], timeout=1800)
    have = run(["rpm", "--root", str(root), "--dbpath", DBPATH, "-qa", "--qf",
                "%{NAME}-%{EPOCHNUM}:%{VERSION}-%{RELEASE}.%{ARCH}\\n"]).stdout.split()
    if aged:
        nevras = sorted(aged_nevra(n) for n in nevras)
    if sorted(have) != nevras:
        raise RuntimeError(f"EL{el}: the rpmdb holds {len(have)} packages, dnf's @core {len(nevras)}")
    shutil.rmtree(work)
    (dest / "ROOT.json").write_text(json.dumps({"el": el, "core": nevras}, indent=1) + "\n")


def aged_nevra(nevra: str) -> str:
    head, arch = nevra.rsplit(".", 1)
    nev, rel = head.rsplit("-", 1)
    return f"{nev}-0.{rel}.{arch}"


def core_nevras(root: Path) -> list[str]:
    return json.loads((root / "ROOT.json").read_text())["core"]


def capture(root: Path, dest: Path) -> Path:
    """The documented capture command (bundler.resolve.baseline.CAPTURE_FORMAT), run by rpm on the root."""
    from bundler.resolve.baseline import CAPTURE_FORMAT
    out = run(["rpm", "--root", str(root / "root"), "--dbpath", DBPATH, "-qa", "--qf", CAPTURE_FORMAT]).stdout
    dest.write_text(out)
    return dest
