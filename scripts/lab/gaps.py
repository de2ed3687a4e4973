"""The longest gap between consecutive acknowledgements inside a time window (the lab's rolling upgrade).

  python3 gaps.py --from T0 --to T1 NAME=TIMES_FILE...

Each TIMES_FILE holds one epoch time (seconds, fractions allowed) per acknowledged insert or confirmed
publish, as insert_loop.sh and amqp_confirm.py write them. For each file the gap is measured over the
acknowledgements inside [T0, T1] plus the last one before T0 and the first one after T1, so a stall that
began before the window or outlasted it is counted whole; a window with no acknowledgement at all counts
from T0 (or the last one before it) to T1 (or the first one after it). Prints one JSON object:
{"window_s": ..., "longest_gap_s": <max over the files>, "files": {NAME: {"longest_gap_s", "at", "acks"}}};
"at" is the epoch time the longest gap began. Exit 1 (with the JSON's "error") on an unreadable file or a
malformed line: a gap must never be reported smaller than it was.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def longest_gap(times: list[float], t0: float, t1: float) -> tuple[float, float, int]:
    """(longest gap in s, its start time, acks inside the window) for sorted or unsorted `times`."""
    ts = sorted(times)
    inside = [t for t in ts if t0 <= t <= t1]
    before = [t for t in ts if t < t0]
    after = [t for t in ts if t > t1]
    points = ([before[-1]] if before else [t0]) + inside + ([after[0]] if after else [t1])
    best, at = 0.0, points[0]
    for a, b in zip(points, points[1:]):
        if b - a > best:
            best, at = b - a, a
    return best, at, len(inside)


def read_times(path: Path) -> list[float]:
    out = []
    for n, line in enumerate(path.read_text(encoding="ascii").splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(float(line))
        except ValueError:
            raise ValueError(f"{path}:{n}: not an epoch time: {line[:40]!r}") from None
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--from", dest="t0", type=float, required=True)
    p.add_argument("--to", dest="t1", type=float, required=True)
    p.add_argument("files", nargs="+", help="NAME=TIMES_FILE")
    a = p.parse_args(argv)
    result: dict = {"window_s": round(a.t1 - a.t0, 3), "longest_gap_s": 0.0, "files": {}}
    try:
        if a.t1 < a.t0:
            raise ValueError(f"the window ends ({a.t1}) before it starts ({a.t0})")
        for spec in a.files:
            name, sep, path = spec.partition("=")
            if not sep or not name or not path:
                raise ValueError(f"expected NAME=TIMES_FILE, got {spec!r}")
            gap, at, acks = longest_gap(read_times(Path(path)), a.t0, a.t1)
            result["files"][name] = {"longest_gap_s": round(gap, 3), "at": round(at, 3), "acks": acks}
            result["longest_gap_s"] = max(result["longest_gap_s"], round(gap, 3))
    except (OSError, ValueError) as e:
        result["error"] = str(e)
        print(json.dumps(result, sort_keys=True))
        return 1
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
