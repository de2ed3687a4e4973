"""Turn the lab's result lines (KEY<TAB>VALUE, keys dotted: galera.db1.state) into a JSON report.

  python3 report.py RESULTS.tsv REPORT.json
Values that parse as JSON (numbers, true/false, objects from the helpers) are kept as such.
A key ending in [] (faults[]) appends its value to a top-level list of that name.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    report: dict = {}
    for line in Path(argv[0]).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        key, _, raw = line.partition("\t")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        if key.endswith("[]"):             # "faults[]": one item of a list, in order
            report.setdefault(key[:-2], []).append(value)
            continue
        node = report
        parts = key.split(".")
        for p in parts[:-1]:
            nxt = node.setdefault(p, {})
            if not isinstance(nxt, dict):
                nxt = node[p] = {"value": nxt}
            node = nxt
        node[parts[-1]] = value
    Path(argv[1]).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
