"""`make bench`: every benchmark of the project, run side by side with its reference.

Speed is measured as ratios against a reference run on the same machine at the
same time (dnf for resolving, the link model's floor for fetching, the cold
build for a warm rebuild, the
changed RPMs' bytes for an update bundle, a warm full build for a warm --since build), never as timed unit tests.
The rolling upgrade's write and publish gaps come from the last `make lab` report (bench_lab.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main() -> int:
    from scripts import bench_fetch, bench_lab, bench_resolve, bench_update

    results = {}
    print("== resolve: wcbundle vs dnf on the real CentOS 7.5 metadata ==", flush=True)
    results["resolve"] = bench_resolve.main()
    print("\n== fetch and rebuild: wcbundle vs the link floor ==", flush=True)
    results["fetch"] = bench_fetch.main()
    print("\n== update: build --since (issue 14): size and warm time ==", flush=True)
    results["update"] = bench_update.main()
    print("\n== rolling upgrade gaps (issue 14): from the last `make lab` report ==", flush=True)
    results["rolling_upgrade"] = bench_lab.main()
    out = Path("out") / "bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
