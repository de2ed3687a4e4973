"""Resolve benchmark (`make bench`): `wcbundle resolve` against dnf's own CLI, side by side.

Both solve `install mariadb-server java-1.8.0-openjdk-headless` on the real
CentOS 7.5 metadata (tests/data/realmeta), served over HTTP from 127.0.0.1 by a
small threaded http.server, with weak deps off and an empty target:

  wcbundle: python -m bundler resolve --adhoc-repo c7=URL --install ... --baseline none --json
  dnf:      dnf --installroot=<empty> --releasever=7 --setopt=reposdir=<tmp> --setopt=cachedir=<tmp>
                install --assumeno ...   (gpgcheck=1; the solve never reaches the signature step)

cold = fresh caches on both sides (every repetition); warm = both caches filled.
Runs alternate between the two tools; the medians are compared.

With `--baseline minimal` (make bench runs both) the target is not empty but @core: dnf solves in an
installroot whose real rpmdb holds the @core set (header-only RPMs of dnf's own `group install core`,
scripts/oracle), wcbundle with `--baseline minimal` (the same set, as libsolv's installed repo with
whole records). The two answers are equal (tests/integration/test_oracle_dnf.py).
Targets (issue 2): cold >= 2x faster than dnf, warm >= 1.5x faster.
`main()` returns the figures as a dict (scripts/bench.py collects them).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from bundler.core.run import run

ROOT = Path(__file__).resolve().parents[1]
C7 = ROOT / "tests" / "data" / "realmeta" / "centos7.5-dvd-x86_64"
PACKAGES = ["mariadb-server", "java-1.8.0-openjdk-headless"]
EXPECTED = 162  # both solvers agree on this closure (tests/unit/test_resolve_dnf.py)
COLD_TARGET, WARM_TARGET = 2.0, 1.5


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the benchmark output readable
        pass


def serve(directory: Path):
    handler = functools.partial(_Quiet, directory=str(directory))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/"


def dummy_key(work: Path) -> Path:
    """An armored public key for the .repo's gpgkey=: dnf refuses gpgcheck=1 without one."""
    home = work / "gnupg"
    home.mkdir(mode=0o700)
    env = {"GNUPGHOME": str(home)}
    run(["gpg", "--batch", "--quiet", "--pinentry-mode", "loopback", "--passphrase", "",
         "--quick-gen-key", "wcbundle-bench <bench@example.invalid>", "ed25519", "sign", "never"], env=env)
    key = work / "bench-key.asc"
    key.write_text(run(["gpg", "--batch", "--armor", "--export"], env=env).stdout)
    run(["gpgconf", "--kill", "gpg-agent"], env=env, check=False)  # key generation started one
    return key


class Dnf:
    def __init__(self, work: Path, url: str, key: Path, root: Path | None = None):
        self.work, self.template = work, root
        (work / "repos").mkdir(parents=True)
        (work / "repos" / "c7.repo").write_text(
            f"[c7]\nname=c7\nbaseurl={url}\nenabled=1\ngpgcheck=1\ngpgkey={key.as_uri()}\n")

    def fresh(self, tag: str) -> None:
        self.state = self.work / tag
        if self.state.exists():
            shutil.rmtree(self.state)
        for d in ("root", "cache", "log", "persist"):
            (self.state / d).mkdir(parents=True)
        if self.template is not None:  # the @core rpmdb, where this rpm (and so dnf) looks for it
            dbpath = run(["rpm", "--eval", "%_dbpath"]).stdout.strip()
            shutil.copytree(self.template / "root" / "var" / "lib" / "rpm", self.state / "root" / dbpath.lstrip("/"))

    def argv(self) -> list[str]:
        s = self.state
        return ["dnf", f"--installroot={s / 'root'}", "--releasever=7", "--forcearch=x86_64",
                f"--setopt=reposdir={self.work / 'repos'}", f"--setopt=cachedir={s / 'cache'}",
                f"--setopt=logdir={s / 'log'}", f"--setopt=persistdir={s / 'persist'}",
                "--setopt=install_weak_deps=False", "-q", "install", "--assumeno", *PACKAGES]

    def once(self) -> float:
        t0 = time.perf_counter()
        proc = run(self.argv(), check=False, timeout=300)
        took = time.perf_counter() - t0
        # --assumeno ends with "Operation aborted." and exit code 1 after a successful solve
        if proc.returncode != 1 or "Operation aborted" not in proc.stdout + proc.stderr:
            raise RuntimeError(f"dnf did not solve (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
        return took


class Wcbundle:
    def __init__(self, work: Path, url: str, baseline: str = "none"):
        self.work, self.url, self.baseline = work, url, baseline
        self.expected = EXPECTED if baseline == "none" else None

    def fresh(self, tag: str) -> None:
        self.cache = self.work / tag
        if self.cache.exists():
            shutil.rmtree(self.cache)

    def argv(self) -> list[str]:
        args = [sys.executable, "-m", "bundler", "-q", "resolve", "--cache", str(self.cache),
                "--adhoc-repo", f"c7={self.url}", "--baseline", self.baseline, "--json"]
        return args + [a for p in PACKAGES for a in ("--install", p)]

    def once(self) -> float:
        t0 = time.perf_counter()
        proc = run(self.argv(), timeout=300, cwd=str(ROOT))
        took = time.perf_counter() - t0
        n = len(json.loads(proc.stdout)["roles"]["custom"]["install"])
        if self.expected is None:
            self.expected = n
        if n != self.expected:
            raise RuntimeError(f"wcbundle resolved {n} packages, expected {self.expected}")
        return took


def measure(reps_cold: int, reps_warm: int, baseline: str = "none") -> dict:
    # dnf's modules come byte-compiled from the distribution; compile ours the same way
    # (a pip install does), or PYTHONDONTWRITEBYTECODE=1 would recompile them on every run
    run([sys.executable, "-m", "compileall", "-q", str(ROOT / "bundler")])
    work = Path(tempfile.mkdtemp(prefix="wcb-bench-resolve-"))
    httpd, base = serve(C7.parent)
    url = base + C7.name + "/"
    try:
        root = None
        if baseline == "minimal":
            from scripts.oracle import ensure_root
            root = ensure_root(7)
        dnf, wcb = Dnf(work / "dnf", url, dummy_key(work), root), Wcbundle(work / "wcb", url, baseline)
        times: dict[str, list[float]] = {"wcb_cold": [], "dnf_cold": [], "wcb_warm": [], "dnf_warm": []}
        for i in range(reps_cold):
            for name, tool in (("wcb", wcb), ("dnf", dnf)) if i % 2 == 0 else (("dnf", dnf), ("wcb", wcb)):
                tool.fresh(f"cold{i}")
                times[f"{name}_cold"].append(tool.once())
        for tool in (wcb, dnf):
            tool.fresh("warm")
            tool.once()  # fill the caches
        for i in range(reps_warm):
            for name, tool in (("wcb", wcb), ("dnf", dnf)) if i % 2 == 0 else (("dnf", dnf), ("wcb", wcb)):
                times[f"{name}_warm"].append(tool.once())
    finally:
        httpd.shutdown()
        httpd.server_close()
        shutil.rmtree(work, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "baseline": baseline,
        "packages": wcb.expected,
        "repetitions": {"cold": reps_cold, "warm": reps_warm},
        "median_seconds": {k: round(v, 4) for k, v in med.items()},
        "cold_ratio": round(med["dnf_cold"] / med["wcb_cold"], 2),
        "warm_ratio": round(med["dnf_warm"] / med["wcb_warm"], 2),
        "targets": {"cold": COLD_TARGET, "warm": WARM_TARGET},
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cold", type=int, default=5, help="cold repetitions per tool")
    ap.add_argument("--warm", type=int, default=10, help="warm repetitions per tool")
    ap.add_argument("--baseline", choices=("none", "minimal", "both"), default="both",
                    help="an empty target, @core (dnf on a real rpmdb), or both (default)")
    args = ap.parse_args([] if argv is None else argv)
    out = {}
    for baseline in ("none", "minimal") if args.baseline == "both" else (args.baseline,):
        res = out[baseline] = measure(args.cold, args.warm, baseline)
        m = res["median_seconds"]
        target = "empty target" if baseline == "none" else "@core target (dnf: a real rpmdb)"
        print(f"resolve {' + '.join(PACKAGES)} ({res['packages']} packages), CentOS 7.5 metadata via 127.0.0.1, "
              f"{target}")
        print(f"  cold  wcbundle {m['wcb_cold']:.3f}s  dnf {m['dnf_cold']:.3f}s  -> {res['cold_ratio']:.2f}x "
              f"faster (target >= {COLD_TARGET}x) {'OK' if res['cold_ratio'] >= COLD_TARGET else 'MISSED'}")
        print(f"  warm  wcbundle {m['wcb_warm']:.3f}s  dnf {m['dnf_warm']:.3f}s  -> {res['warm_ratio']:.2f}x "
              f"faster (target >= {WARM_TARGET}x) {'OK' if res['warm_ratio'] >= WARM_TARGET else 'MISSED'}")
    return out if args.baseline == "both" else out[args.baseline]


if __name__ == "__main__":
    main(sys.argv[1:])
