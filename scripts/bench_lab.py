"""Rolling-upgrade gaps (`make bench`, issue 14 point 7): read from the last `make lab` report.

The gaps need real Galera and RabbitMQ clusters under load, which only the cluster lab runs (root,
network namespaces, about 10 minutes): `make bench` does not start it. It reads the newest
`/tmp/wcb-lab.*/report.json` whose `upgrade` section ran (or the file `LAB_REPORT` names), owned by
root or the user running the bench and not a symlink, and reports the longest write gap (seconds
between consecutive acknowledged inserts) and the longest publish gap (consecutive publisher confirms)
during the lab's rolling upgrade (scripts/lab/lib/rolling.sh), against the target of 5 s each.
With no such report it says so and how to make one; nothing is invented.

`main()` returns the figures as a dict (scripts/bench.py collects them).
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

GAP_TARGET_S = 5.0


def candidates(env: dict[str, str] | None = None, tmp: Path = Path("/tmp")) -> list[Path]:
    """LAB_REPORT alone when set, else the lab reports under tmp, newest first."""
    env = os.environ if env is None else env
    if env.get("LAB_REPORT"):
        return [Path(env["LAB_REPORT"])]
    found = []
    for p in tmp.glob("wcb-lab.*/report.json"):
        try:
            found.append((p.lstat().st_mtime, p))
        except OSError:
            continue
    return [p for _, p in sorted(found, reverse=True)]


def read_report(path: Path) -> dict | None:
    """The report's upgrade figures, or None when it is not a trusted report with a rolling upgrade run."""
    try:
        st = path.lstat()
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode) or st.st_uid not in (0, os.getuid()):
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    up = doc.get("upgrade") if isinstance(doc, dict) else None
    if not isinstance(up, dict) or up.get("run") is not True:
        return None
    summary = doc.get("summary") if isinstance(doc.get("summary"), dict) else {}
    out = {key: up.get(key) for key in ("ok", "nodes", "nodes_total", "rows_acked", "rows_lost", "messages_confirmed",
                                        "messages_lost", "longest_write_gap_s", "longest_publish_gap_s", "seconds")}
    out.update(report=str(path), commit=summary.get("commit"), target_s=GAP_TARGET_S)
    gaps = [out["longest_write_gap_s"], out["longest_publish_gap_s"]]
    out["within_target"] = all(isinstance(g, (int, float)) and g <= GAP_TARGET_S for g in gaps)
    return out


def main(env: dict[str, str] | None = None, tmp: Path = Path("/tmp")) -> dict:
    for path in candidates(env, tmp):
        got = read_report(path)
        if got is not None:
            print(f"rolling upgrade in the lab ({got['report']}, commit {got['commit']}): "
                  f"{got['nodes']}/{got['nodes_total']} nodes, {got['rows_acked']} rows acked / {got['rows_lost']} lost, "
                  f"{got['messages_confirmed']} messages confirmed / {got['messages_lost']} lost")
            print(f"  longest write gap {got['longest_write_gap_s']} s, longest publish gap "
                  f"{got['longest_publish_gap_s']} s (target <= {GAP_TARGET_S:g} s each: "
                  f"{'met' if got['within_target'] else 'missed; README, Benchmarks, says what bounds them'})")
            return {"available": True, **got}
    print("rolling upgrade gaps: no lab report with a rolling upgrade found (/tmp/wcb-lab.*/report.json or LAB_REPORT);"
          " run `flock /tmp/wcb-lab.lock make lab` as root first: its report.json has them under `upgrade`")
    return {"available": False, "target_s": GAP_TARGET_S}


if __name__ == "__main__":
    print(json.dumps(main(), indent=2, sort_keys=True))
    sys.exit(0)
