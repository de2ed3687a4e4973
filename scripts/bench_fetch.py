"""Fetch and rebuild benchmark (`make bench`): wcbundle against the link's floor.

The EL7 fixture world is served by scripts/mirror.py through a link model (one
shared bandwidth cap, default 100 Mbit/s, and a per-request latency, default
40 ms). Measured, all on this machine at the same time:

- cold fetch (`fetch_all`, --jobs 8) wall time vs the floor = bytes / bandwidth;
- the same fetch with --jobs 1;
- a full `wcbundle build` with an empty cache (cold: metadata and packages over
  the link) vs the same build again
  with the warm cache: the warm one must download 0 package bytes (the mirror's
  request log says so) and take a fraction of the cold build's time.

Targets (issue 3): cold fetch <= 1.25x the floor; warm rebuild < 20% of cold.
`main()` returns the figures as a dict (scripts/bench.py collects them).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

FETCH_TARGET = 1.25
WARM_TARGET = 0.20


def _lock(world, url: str, cache: Path):
    from bundler.cli.resolve import selection_from
    from bundler.resolve.solve import resolve
    args = world.repo_args(url)
    repos = [args[i + 1] for i in range(0, len(args), 2) if args[i] == "--repo"]
    keys = [args[i + 1] for i in range(0, len(args), 2) if args[i] == "--gpgkey"]
    return resolve(selection_from(el="7", repos=repos, gpgkeys=keys, cache=str(cache)))


def _fetch(lock, cache: Path, jobs: int) -> tuple[float, int]:
    from bundler.assemble.fetch import FetchStats, fetch_all
    stats = FetchStats()
    t0 = time.monotonic()
    fetch_all(lock, cache, jobs=jobs, quiet=True, stats=stats)
    return time.monotonic() - t0, stats.bytes_downloaded


def _build(world, url: str, cache: Path, out: Path) -> float:
    from bundler.cli import main as cli_main
    argv = ["-q", "build", "--el", "7", *world.repo_args(url), "--cache", str(cache), "--out", str(out)]
    t0 = time.monotonic()
    with contextlib.redirect_stdout(io.StringIO()):
        rc = cli_main(argv)
    if rc != 0:
        raise RuntimeError(f"wcbundle build failed with exit code {rc}")
    return time.monotonic() - t0


def _median(values: list[float]) -> float:
    return statistics.median(values)


def run_bench(rate: float, latency: float, jobs: int, repeat: int = 3) -> dict:
    """Each figure is the median of `repeat` runs (fresh caches for every cold run)."""
    from scripts.mirror import Mirror
    from scripts.world import ensure
    world = ensure(7)
    res: dict = {"link": {"rate_bytes_per_s": rate, "latency_s": latency}, "jobs": jobs, "repeat": repeat}
    with tempfile.TemporaryDirectory(prefix="wcbundle-bench-") as tmp, \
            Mirror(world.root, rate=rate, latency=latency) as mirror:
        work = Path(tmp)
        lock = _lock(world, mirror.url, work / "meta-cache")
        pkg_bytes = sum(p.size for p in lock.packages)
        floor = pkg_bytes / rate
        res.update(packages=len(lock.packages), bytes=pkg_bytes, floor_s=round(floor, 3))
        for key, n in (("cold_fetch", jobs), ("cold_fetch_jobs1", 1)):
            runs = [_fetch(lock, work / f"fetch-{n}-{i}", n) for i in range(repeat)]
            t = _median([r[0] for r in runs])
            res[key] = {"seconds": round(t, 3), "bytes": runs[0][1], "ratio_to_floor": round(t / floor, 3),
                        "runs": [round(r[0], 3) for r in runs]}
        colds, warms, warm_bytes, warm_requests = [], [], 0, 0
        for i in range(repeat):
            cache = work / f"build-cache-{i}"
            colds.append(_build(world, mirror.url, cache, work / "out"))
            mirror.reset_log()
            warms.append(_build(world, mirror.url, cache, work / "out"))
            warm_bytes += sum(e.bytes_sent for e in mirror.log if e.path.endswith(".rpm"))
            warm_requests += len(mirror.log)
            shutil.rmtree(work / "out", ignore_errors=True)
        cold, warm = _median(colds), _median(warms)
        res["build"] = {"cold_s": round(cold, 3), "warm_s": round(warm, 3), "warm_ratio": round(warm / cold, 3),
                        "warm_package_bytes": warm_bytes, "warm_requests": warm_requests,
                        "cold_runs": [round(x, 3) for x in colds], "warm_runs": [round(x, 3) for x in warms]}
    res["targets"] = {
        "cold_fetch_le_1.25x_floor": res["cold_fetch"]["ratio_to_floor"] <= FETCH_TARGET,
        "warm_lt_20pct_of_cold": res["build"]["warm_ratio"] < WARM_TARGET,
        "warm_downloads_0_bytes": warm_bytes == 0,
    }
    return res


def report(res: dict) -> str:
    c, c1, b = res["cold_fetch"], res["cold_fetch_jobs1"], res["build"]
    mbit = res["link"]["rate_bytes_per_s"] * 8 / 1e6
    lines = [
        f"link model: {mbit:.0f} Mbit/s shared, {res['link']['latency_s'] * 1000:.0f} ms per request; "
        f"{res['packages']} packages, {res['bytes'] / 2**20:.1f} MiB; floor {res['floor_s']:.2f} s; "
        f"medians of {res['repeat']} runs",
        f"cold fetch --jobs {res['jobs']}: {c['seconds']:.2f} s = {c['ratio_to_floor']:.2f}x the floor "
        f"(target <= {FETCH_TARGET}x: {'met' if res['targets']['cold_fetch_le_1.25x_floor'] else 'MISSED'})",
        f"cold fetch --jobs 1: {c1['seconds']:.2f} s = {c1['ratio_to_floor']:.2f}x the floor",
        f"build: cold {b['cold_s']:.2f} s, warm {b['warm_s']:.2f} s = {b['warm_ratio'] * 100:.0f}% of cold "
        f"(target < {WARM_TARGET * 100:.0f}%: {'met' if res['targets']['warm_lt_20pct_of_cold'] else 'MISSED'}); "
        f"warm rebuild downloaded {b['warm_package_bytes']} package bytes in {b['warm_requests']} requests",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    from scripts.mirror import parse_duration, parse_rate
    p = argparse.ArgumentParser(prog="python -m scripts.bench_fetch", description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", default="100Mbit", help="link bandwidth (default 100Mbit)")
    p.add_argument("--latency", default="40ms", help="per-request latency (default 40ms)")
    p.add_argument("--jobs", type=int, default=8, help="parallel downloads for the cold fetch (default 8)")
    p.add_argument("--repeat", type=int, default=3, help="runs per figure; the median is reported (default 3)")
    p.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = p.parse_args(argv if argv is not None else [])
    res = run_bench(parse_rate(args.rate), parse_duration(args.latency), args.jobs, max(1, args.repeat))
    print(report(res), flush=True)
    if args.json:
        print(json.dumps(res, indent=2, sort_keys=True))
    return res


if __name__ == "__main__":
    main(sys.argv[1:])
