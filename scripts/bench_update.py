"""Update benchmark (`make bench`, issue 14 point 7): what `wcbundle build --since` costs.

On the v1/v2 fixture world (scripts/world/v2), served by scripts/mirror.py on 127.0.0.1:

- size: a three-package update of the demo world. v1 is built for the roles mq-node and app-node
  (the roles whose packages v2 rebuilds are erlang, rabbitmq-server and
  java-1.8.0-openjdk-headless: exactly three), then the update from v2 with --since v1. Figure:
  the update's .tar bytes / the bytes of the changed RPM files it carries. Target <= 1.05. The
  same figure for the all-roles update (nine changed RPMs) is reported beside it, and the fixed
  part of an update (installer, repodata, keys, bundle.json, SBOM, report, tar headers) in bytes.
- time: a warm `--since` build (the package cache already holds everything) against a warm full
  build of the same v2 state, medians of `repeat` runs each.

`main()` returns the figures as a dict (scripts/bench.py collects them).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

SIZE_TARGET = 1.05
THREE_ROLES = ("mq-node", "app-node")
INSTALLER_PARTS = ("install.sh", "lib", "roles", "templates")


def _build(world, url: str, cache: Path, out: Path, *extra: str) -> tuple[float, Path]:
    from bundler.cli import main as cli_main
    argv = ["-q", "build", "--el", "7", *world.repo_args(url), "--cache", str(cache), "--out", str(out), *extra]
    t0 = time.monotonic()
    with contextlib.redirect_stdout(io.StringIO()):
        rc = cli_main(argv)
    dt = time.monotonic() - t0
    if rc != 0:
        raise RuntimeError(f"wcbundle build {' '.join(extra)} failed with exit code {rc}")
    tars = sorted(out.glob("*.tar"), key=lambda p: p.stat().st_mtime)
    return dt, tars[-1]


def _size_figures(update_tar: Path) -> dict:
    """Bytes of the update tar, of the RPMs inside it, and the rest."""
    import tarfile
    rpm_bytes, rpms, other = 0, 0, {}
    with tarfile.open(update_tar) as tf:
        for ti in tf:
            if not ti.isreg():
                continue
            rel = ti.name.split("/", 1)[1]
            if rel.endswith(".rpm"):
                rpm_bytes += ti.size
                rpms += 1
            else:
                part = rel.split("/", 1)[0] if "/" in rel and not rel.startswith("repo/") else rel
                part = "repo/repodata" if rel.startswith("repo/repodata") else part
                other[part] = other.get(part, 0) + ti.size
    total = update_tar.stat().st_size
    fixed = total - rpm_bytes
    return {"update_bytes": total, "changed_rpms": rpms, "changed_rpm_bytes": rpm_bytes,
            "ratio": round(total / rpm_bytes, 4) if rpm_bytes else None, "overhead_bytes": fixed,
            "overhead_files": dict(sorted(other.items(), key=lambda kv: -kv[1])),
            # the installer every bundle carries to run on the target (readable bash, no archive inside)
            "installer_bytes": sum(v for k, v in other.items() if k in INSTALLER_PARTS),
            "tar_headers_and_padding": total - rpm_bytes - sum(other.values()),
            # ratio = 1 + fixed / RPM bytes: the changed RPMs' bytes at which this fixed part meets the target
            "rpm_bytes_for_target": round(fixed / (SIZE_TARGET - 1))}


def run_bench(repeat: int = 3) -> dict:
    from scripts.mirror import Mirror
    from scripts.world.v2 import ensure_v2
    v1, v2 = ensure_v2(7)
    res: dict = {"repeat": repeat}
    with tempfile.TemporaryDirectory(prefix="wcbundle-bench-upd-") as tmp, \
            Mirror(v1.root) as m1, Mirror(v2.root) as m2:
        work = Path(tmp)
        cache = work / "cache"
        role_args = [a for r in THREE_ROLES for a in ("--role", r)]
        _, old3 = _build(v1, m1.url, cache, work / "o1-three", *role_args)
        _, upd3 = _build(v2, m2.url, cache, work / "u-three", *role_args, "--since", str(old3))
        res["three"] = {"roles": list(THREE_ROLES), **_size_figures(upd3)}
        _, old = _build(v1, m1.url, cache, work / "o1-all")
        _, upd = _build(v2, m2.url, cache, work / "u-all", "--since", str(old))
        res["all_roles"] = _size_figures(upd)
        # time: warm caches for both (every v2 package is in the cache after the builds above)
        _build(v2, m2.url, cache, work / "warmup")
        fulls, sinces = [], []
        for i in range(repeat):
            fulls.append(_build(v2, m2.url, cache, work / f"full-{i}")[0])
            sinces.append(_build(v2, m2.url, cache, work / f"since-{i}", "--since", str(old))[0])
        full, since = statistics.median(fulls), statistics.median(sinces)
        res["time"] = {"warm_full_s": round(full, 3), "warm_since_s": round(since, 3),
                       "since_to_full": round(since / full, 3),
                       "full_runs": [round(x, 3) for x in fulls], "since_runs": [round(x, 3) for x in sinces]}
    res["targets"] = {"three_package_update_le_1.05x": res["three"]["ratio"] <= SIZE_TARGET}
    return res


def report(res: dict) -> str:
    t, a, tm = res["three"], res["all_roles"], res["time"]
    top = ", ".join(f"{k} {v / 1024:.0f} KiB" for k, v in list(t["overhead_files"].items())[:5])
    return "\n".join([
        f"three-package update (roles {', '.join(t['roles'])}): {t['update_bytes']} bytes for "
        f"{t['changed_rpms']} changed RPMs of {t['changed_rpm_bytes']} bytes = {t['ratio']:.3f}x "
        f"(target <= {SIZE_TARGET}x: {'met' if res['targets']['three_package_update_le_1.05x'] else 'MISSED'})",
        f"  fixed part: {t['overhead_bytes'] / 1024:.0f} KiB ({top}; tar headers "
        f"{t['tar_headers_and_padding'] / 1024:.0f} KiB), of which the installer "
        f"{t['installer_bytes'] / 1024:.0f} KiB; it meets the target from "
        f"{t['rpm_bytes_for_target'] / 2**20:.1f} MiB of changed RPMs",
        f"all-roles update: {a['changed_rpms']} changed RPMs, {a['update_bytes']} bytes = {a['ratio']:.3f}x",
        f"warm build: --since {tm['warm_since_s']:.2f} s vs full {tm['warm_full_s']:.2f} s "
        f"= {tm['since_to_full']:.2f}x (medians of {res['repeat']})",
    ])


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m scripts.bench_update", description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=3, help="runs per timing; the median is reported (default 3)")
    p.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = p.parse_args(argv if argv is not None else [])
    res = run_bench(max(1, args.repeat))
    print(report(res), flush=True)
    if args.json:
        print(json.dumps(res, indent=2, sort_keys=True))
    return res


if __name__ == "__main__":
    main(sys.argv[1:])
