"""Render the README's fault table from the fault suite's own results.

tests/integration/test_faults.py records one row per case it has *verified*
(case, injected fault, whether a healthy mirror existed, expected and observed
outcome) into build/fault-results.json ($WCB_FAULT_RESULTS). With --junit the
suite's JUnit XML is read too, so that a case that failed, was skipped or is a
known gap (xfail) appears in the table as NOT PASSING with its reason, instead
of silently missing.

    python -m scripts.fault_table --run            # run the fault suite, then print Markdown
    python -m scripts.fault_table [--results F] [--junit F]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RESULTS = ROOT / "build" / "fault-results.json"
SUITE = "tests/integration/test_faults.py"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ").strip()


def not_passing(junit: Path) -> list[dict]:
    """Test cases of the suite that did not pass (failed, error, skipped, xfail), with the reason."""
    out = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                reason = (node.get("message") or node.text or tag).strip().splitlines()[0][:160]
                out.append({"test": case.get("name"), "status": tag, "reason": reason})
                break
    return out


def render(rows: list[dict], gaps: list[dict]) -> str:
    lines = ["| Fault case | Healthy mirror | Expected | Observed in the test suite |",
             "|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["fault"], not r["good_mirror"], r["case"])):
        lines.append(f"| {_cell(r['case'])} | {'yes' if r['good_mirror'] else 'no'} | {_cell(r['expected'])} "
                     f"| {_cell(r['observed'])} |")
    for g in gaps:
        lines.append(f"| `{_cell(g['test'])}` | | | **NOT PASSING** ({g['status']}): {_cell(g['reason'])} |")
    stamp = max((r.get("time", "") for r in rows), default="")
    lines.append("")
    lines.append(f"_{len(rows)} verified cases from `{SUITE}`"
                 + (f", last run {stamp}" if stamp else "") + (f"; {len(gaps)} not passing" if gaps else "")
                 + "._")
    return "\n".join(lines) + "\n"


def run_suite(results: Path, junit: Path) -> int:
    sys.path.insert(0, str(ROOT))
    from bundler.run import run
    results.unlink(missing_ok=True)
    res = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", SUITE, f"--junitxml={junit}"],
              check=False, cwd=ROOT, env={"WCB_FAULT_RESULTS": str(results)}, capture=False)
    return res.returncode


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=Path(os.environ.get("WCB_FAULT_RESULTS", DEFAULT_RESULTS)))
    ap.add_argument("--junit", type=Path, help="JUnit XML of the same run (lists cases that did not pass)")
    ap.add_argument("--run", action="store_true", help="run the fault suite first (needs the fixture world)")
    args = ap.parse_args(argv)
    code = 0
    with tempfile.TemporaryDirectory() as tmp:
        junit = args.junit
        if args.run:
            junit = Path(tmp) / "faults.xml"
            code = run_suite(args.results, junit)
        if not args.results.is_file():
            print(f"no results at {args.results}: run `python -m scripts.fault_table --run` "
                  f"(or pytest {SUITE}) first", file=sys.stderr)
            return 2
        rows = json.loads(args.results.read_text())
        gaps = not_passing(junit) if junit and junit.is_file() else []
        sys.stdout.write(render(rows, gaps))
    return code


if __name__ == "__main__":
    sys.exit(main())
