"""Render the README's fault table from the fault suite's own results.

tests/integration/test_faults.py records one row per case it has *verified*
(case, injected fault, whether a healthy mirror existed, expected and observed
outcome) into build/fault-results.json ($WCB_FAULT_RESULTS). With --junit the
suite's JUnit XML is read too, so that a case that failed, was skipped or is a
known gap (xfail) appears in the table as NOT PASSING with its reason, instead
of silently missing.

    python -m scripts.fault_table --run            # run the fault suite, then print Markdown
    python -m scripts.fault_table [--results F] [--junit F]
    python -m scripts.fault_table --trust          # run the trust-boundary tests (issue 10), print their table

The trust-boundary table lists each hostile case of issue 10 with its expected outcome and the test that
proves it; a case is "passed" only when that test passed in this run (pytest JUnit XML, bats TAP).
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
    from bundler.core.run import run
    results.unlink(missing_ok=True)
    res = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", SUITE, f"--junitxml={junit}"],
              check=False, cwd=ROOT, env={"WCB_FAULT_RESULTS": str(results)}, capture=False)
    return res.returncode


# (issue 10 point, case, expected outcome, test: "pytest FILE::NAME" or "bats FILE::NAME")
TRUST_CASES = [
    (1, "site value the installer would refuse (vhost `workcenter`, cluster-name with `-`), a value ending in a newline",
     "builder exit 3 naming file, key and rule; builder and installer give the same verdict on every value",
     "pytest tests/unit/test_site_schema.py::test_builder_and_installer_give_the_same_verdict_on_every_sample"),
    (1, "any text (hypothesis) for any site key", "builder and installer verdicts identical",
     "pytest tests/unit/test_site_schema.py::test_builder_and_installer_agree_on_any_text"),
    (1, "the bundle's validator", "lib/site_schema.sh generated from bundler/site/model.py, listed in MANIFEST.sha256",
     "pytest tests/unit/test_pack.py::test_the_bundle_carries_the_generated_site_validator_and_the_signed_site_env"),
    (2, "site.env sets `WCB_LOG_FILE` to a file outside the bundle", "exit 3, nothing outside the bundle written",
     "bats tests/bats/trust.bats::site.env cannot point the log at a file outside the bundle (WCB_LOG_FILE): "
     "refused, exit 3, nothing written"),
    (2, "site.env sets `WCB_DRY_RUN=0` under --dry-run", "exit 3, nothing changed",
     "bats tests/bats/trust.bats::site.env cannot turn --dry-run into a real run (WCB_DRY_RUN=0)"),
    (2, "site.env sets `WCB_TMPFILES` or `WCB_SKIP_PHASES`", "exit 3, nothing deleted or skipped",
     "bats tests/bats/trust.bats::site.env cannot name files for the temp-file cleanup, or skip phases"),
    (2, "unknown key, key set twice, a secret in site.env, a site key in secrets.env", "exit 3 naming the key",
     "bats tests/bats/trust.bats::an unknown key, a key set twice, a secret in site.env and a site key in "
     "secrets.env are refused"),
    (2, "a refused key under --check", "exit 2",
     "bats tests/bats/trust.bats::under --check (and on a signed bundle) a refused site.env key is an integrity "
     "failure, exit 2"),
    (3, "tampered bundle.env setting the log file, install and --info", "exit 2 (checksum), log never opened",
     "bats tests/bats/trust.bats::bundle.env is not read before the verify phase: a tampered one cannot set "
     "the log file"),
    (4, "signed bundle, site.env edited, --require-signature", "exit 2 naming the edited keys",
     "bats tests/bats/trust.bats::--require-signature: an unedited signed bundle passes; an edited site.env is "
     "refused (exit 2) and names the keys"),
    (4, "the same with --accept-site-edits", "valid edit passes naming the keys; invalid value exit 3",
     "bats tests/bats/trust.bats::--accept-site-edits: a schema-valid edit passes and names the changed keys; "
     "an invalid one is still refused"),
    (4, "signed bundle, site.env sets an installer variable", "exit 2 with or without --accept-site-edits",
     "bats tests/bats/trust.bats::--require-signature: an edit setting an installer variable is refused with "
     "or without --accept-site-edits"),
    (5, "service user plants a symlink as the destination (.erlang.cookie)", "exit 4, the target untouched",
     "bats tests/bats/trust.bats::a symlink planted by the service user as the destination is refused (exit 4); "
     "its target is untouched"),
    (3, "a bundle file owned by another user (the admin who extracted it)", "exit 2 in the verify phase, nothing written",
     "bats tests/bats/trust.bats::a bundle file owned by another user is refused by the verify phase (exit 2), "
     "nothing written"),
    (3, "a group-writable bundle directory, a bundle under a folder another user owns", "exit 2, nothing written",
     "bats tests/bats/trust.bats::a group-writable bundle directory, or a bundle under a directory another user "
     "owns, is refused (exit 2)"),
    (5, "service user plants a symlink at the temp-file name (a hostile mktemp hands it out)",
     "exit 4, never written through, the target untouched",
     "bats tests/bats/trust.bats::a symlink planted by the service user at the installer's temp-file name is "
     "never written through"),
    (5, "service user plants a directory symlink where a directory is made (rabbitmq mnesia)",
     "exit 4 (install and --dry-run), the target directory untouched",
     "bats tests/bats/trust.bats::a directory symlink planted by the service user where the installer makes a "
     "directory is refused (exit 4)"),
    (5, "`--capture-baseline FILE` where FILE is a planted symlink, or inside the bundle",
     "exit 4 (symlink, the target untouched) / exit 1 (inside the bundle)",
     "bats tests/bats/options.bats::--capture-baseline never writes through a planted symlink (exit 4), nor inside "
     "the bundle (exit 1)"),
    (5, "service user plants symlinks at the backup names", "old file kept by hard link, targets untouched",
     "bats tests/bats/trust.bats::a rewrite keeps the old file as a hard-linked backup and never follows a "
     "planted backup name"),
    (6, "--check, --check-site, --dry-run, install, failure", "TMPDIR empty afterwards (keyrings, rendered configs)",
     "bats tests/bats/trust.bats::no temp file or keyring is left in TMPDIR: --check, --check-site, --dry-run, "
     "install, failure"),
    (6, "Ctrl-C during the verify phase", "exit 130, TMPDIR empty",
     "bats tests/bats/trust.bats::Ctrl-C during the verify phase leaves no temp file or keyring behind (exit 130)"),
    (7, "repomd.xml checksum `../../../victim` (http, 127.0.0.1)", "fetch error, no file outside the cache touched",
     "pytest tests/unit/test_metadata.py::test_a_checksum_that_is_a_path_never_names_a_cache_file"),
    (7, "repomd checksum of the wrong length or type, a type name with `/`", "fetch error before any use",
     "pytest tests/unit/test_metadata.py::test_checksums_are_validated_by_type"),
    (7, "file:// href `../outside/...`, or a symlink out of the repo", "fetch error, nothing read outside",
     "pytest tests/unit/test_metadata.py::test_a_file_repo_href_outside_the_repo_is_refused"),
    (7, "http href `..`, `%2e%2e`, absolute, another URL", "fetch error, nothing requested outside the repo",
     "pytest tests/unit/test_metadata.py::test_an_http_href_outside_the_repo_root_is_never_requested"),
    (7, "file:// package that is a symlink to /dev/zero, a FIFO, or a symlink out of the repo",
     "fetch error within seconds, nothing left in the cache",
     "pytest tests/unit/test_fetch.py::test_a_hostile_local_repo_is_refused_quickly_and_leaves_nothing"),
    (7, "file:// package href `../secret.rpm`", "fetch error, nothing read outside the repo",
     "pytest tests/unit/test_fetch.py::test_a_local_href_escaping_the_repo_with_dotdot_is_refused"),
    (8, "join.sh under umask 022, parts 0600", "joined tar 0600",
     "pytest tests/unit/test_split.py::test_joined_tar_is_private_under_umask_022"),
    (9, "a pickle planted in the manifest cache", "nothing runs; the manifest is parsed again",
     "pytest tests/unit/test_manifest.py::test_the_manifest_cache_cannot_run_code"),
    (10, "app.jar `../outside/shadow.jar`, or a symlink out of the site folder", "exit 3, nothing in --out",
     "pytest tests/unit/test_site_schema.py::test_app_jar_outside_the_site_folder_is_refused"),
    (10, "a 5000-character app.jar path", "exit 3, not an internal error",
     "pytest tests/unit/test_site_schema.py::test_a_5000_character_jar_path_is_exit_3_not_an_internal_error"),
    (10, "app.jar named like a site file (`secrets.env`, `site.env`, `flows.tsv`, ...)",
     "builder exit 3; builder and installer both require `.jar`",
     "pytest tests/unit/test_site_schema.py::test_a_site_yaml_jar_named_like_a_site_file_is_exit_3"),
    (10, "an accepted site.env edit `WCB_APP_JAR=site/secrets.env` (signed bundle, --accept-site-edits)",
     "exit 3, nothing written, no jar installed",
     "bats tests/bats/trust.bats::an accepted site edit cannot name a site file as the jar "
     "(WCB_APP_JAR=site/secrets.env): exit 3, nothing written"),
]


def run_trust(junit: Path) -> dict[str, str]:
    """Run the trust-boundary tests; test id -> "" (passed) or the reason it did not."""
    sys.path.insert(0, str(ROOT))
    from bundler.core.run import run
    status: dict[str, str] = {}
    files = sorted({t.split(" ", 1)[1].split("::")[0] for *_, t in TRUST_CASES if t.startswith("pytest ")})
    env = {"PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}"}
    run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files, f"--junitxml={junit}"],
        check=False, cwd=ROOT, env=env, capture=True)
    failed = {g["test"]: g["reason"] for g in not_passing(junit)} if junit.is_file() else {}
    seen = {c.get("name") for c in ET.parse(junit).getroot().iter("testcase")} if junit.is_file() else set()
    for *_, t in TRUST_CASES:
        kind, ident = t.split(" ", 1)
        if kind != "pytest":
            continue
        name = ident.split("::")[1]
        names = [n for n in seen if n == name or n.startswith(name + "[")]
        bad = [failed[n] for n in names if n in failed]
        status[t] = "not run" if not names else (bad[0] if bad else "")
    for bats_file in sorted({t.split(" ", 1)[1].split("::")[0] for *_, t in TRUST_CASES if t.startswith("bats ")}):
        tap = run(["bats", "--tap", bats_file], check=False, cwd=ROOT, env=env, capture=True).stdout
        results = {}
        for line in tap.splitlines():
            for prefix, ok in (("ok ", True), ("not ok ", False)):
                if line.startswith(prefix):
                    name = line[len(prefix):].split(" ", 1)[1]
                    results[name] = "" if ok else "failed"
        for *_, t in TRUST_CASES:
            if t.startswith(f"bats {bats_file}::"):
                status[t] = results.get(t.split("::", 1)[1], "not run")
    return status


def render_trust(status: dict[str, str]) -> str:
    lines = ["| # | Hostile case | Expected | Observed in the test suite |", "|---|---|---|---|"]
    for point, case, expected, test in TRUST_CASES:
        name = test.split("::", 1)[1]
        got = status.get(test, "not run")
        observed = f"passed: `{name}`" if got == "" else f"**NOT PASSING** ({got}): `{name}`"
        lines.append(f"| {point} | {_cell(case)} | {_cell(expected)} | {_cell(observed)} |")
    passed = sum(1 for *_, t in TRUST_CASES if status.get(t) == "")
    from datetime import datetime, timezone
    when = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines += ["", f"_{passed} of {len(TRUST_CASES)} trust-boundary cases passing, run {when} "
                  "(`python -m scripts.fault_table --trust`)._"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=Path(os.environ.get("WCB_FAULT_RESULTS", DEFAULT_RESULTS)))
    ap.add_argument("--junit", type=Path, help="JUnit XML of the same run (lists cases that did not pass)")
    ap.add_argument("--run", action="store_true", help="run the fault suite first (needs the fixture world)")
    ap.add_argument("--trust", action="store_true", help="run the trust-boundary tests and print their table")
    args = ap.parse_args(argv)
    code = 0
    if args.trust:
        with tempfile.TemporaryDirectory() as tmp:
            status = run_trust(Path(tmp) / "trust.xml")
        sys.stdout.write(render_trust(status))
        return 0 if all(status.get(t) == "" for *_, t in TRUST_CASES) else 1
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
