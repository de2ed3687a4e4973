"""Fault injection against real builds: the fixture world served by two mirrors on 127.0.0.1.

Every repo of a manifest copy gets two baseurls: the faulty mirror first, then a
healthy one (the manifest's `baseurls` list is how several mirrors are passed;
`--repo ID=URL` takes one URL per repo). Each fault of scripts/mirror.py is
injected on the faulty mirror for one package (MariaDB-server) or for the repo
metadata, and:
* with a healthy second mirror the build succeeds, the bundle verifies, and the
  package came from the healthy mirror;
* with the fault on both mirrors the build fails with exit 5 and a message that
  names the package (or repo), both mirrors, and, for bad bytes, expected vs
  actual sha256;
* in both cases the cache holds no bad file (every cache entry hashes to its
  name; a kept `.part` is a true prefix of the good file) and --out holds no tar.
Kill -9 in mid-download, then a re-run: it resumes with a Range request (seen in
the mirror's log) and finishes with correct checksums.

Builds run in-process through bundler.cli.main; the fetch bounds are shrunk
(FetchOptions: read timeout 2 s, 2 tries per mirror) so the stall case fires
its bound in seconds rather than the production 30 s. Each case records a row
(case, expected, observed) into the JSON file read by scripts/fault_table.py.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from bundler.assemble import fetch
from bundler.carry import verify
from bundler.cli import main
from bundler.core.errors import EXIT_FETCH
from bundler.core.paths import DEFAULT_MANIFEST

pytestmark = pytest.mark.integration

ROLE = "db-node"
TARGET = "*/MariaDB-server-*.rpm"
RESULTS = Path(os.environ.get("WCB_FAULT_RESULTS", Path(__file__).resolve().parents[2] / "build" /
                              "fault-results.json"))
STALL = 4.0      # the mirror's stall lasts longer than the fetch's 2 s read timeout: the bound fires first
PACKAGE_FAULTS = ["404", "500", "reset", "truncate", "flip", "stall", "wrong-length", "wrong-length-short",
                  "redirect-loop"]
# label -> (mirror fault kind, its params). "wrong-length" announces 1000 bytes more than it
# sends: the bytes that arrive are complete and right, so the sha256 check accepts them and
# the build must succeed even with no other mirror. "wrong-length-short" announces 1000
# bytes fewer: the file arrives cut and must be refused.
KINDS = {"wrong-length": ("wrong-length", {"delta": 1000}), "wrong-length-short": ("wrong-length", {"delta": -1000})}
BYTES_STILL_GOOD = {"wrong-length"}


def inject(mirror, label: str) -> str:
    kind, params = KINDS.get(label, (label, {}))
    mirror.set_fault(TARGET, kind, **params)
    return kind


# The mirror runs in this process: socketserver prints a client's connection reset as a
# "Exception occurred during processing of request" block on stderr. That is the
# mirror's noise, not wcbundle's output; it is cut out before the no-traceback check.
MIRROR_NOISE = re.compile(r"-{40}\nException occurred during processing of request from .*?\n-{40}\n", re.S)


def record(case: str, fault: str, good_mirror: bool, expected: str, observed: str) -> None:
    """Append one verified row for the README's fault table (scripts/fault_table.py renders it)."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    rows = json.loads(RESULTS.read_text()) if RESULTS.is_file() else []
    rows = [r for r in rows if r["case"] != case]
    rows.append({"case": case, "fault": fault, "good_mirror": good_mirror, "expected": expected,
                 "observed": observed, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    RESULTS.write_text(json.dumps(sorted(rows, key=lambda r: r["case"]), indent=2) + "\n")


@pytest.fixture
def world(world_el7):
    return world_el7.world


@pytest.fixture
def mirrors(world, mirror_factory):
    """Two fresh mirrors of the world (faults never leak into the session's shared mirror)."""
    return mirror_factory(world.root, stall_seconds=STALL), mirror_factory(world.root, stall_seconds=STALL)


@pytest.fixture(autouse=True)
def short_bounds(monkeypatch):
    want = {"read_timeout": 2.0, "connect_timeout": 2.0, "tries_per_url": 2, "backoff": 0.05,
            "speed_time": 2.0, "lock_wait": 30.0}
    known = {f.name for f in dataclasses.fields(fetch.FetchOptions)}
    assert {"read_timeout", "tries_per_url"} <= known, f"fetch.FetchOptions changed: {sorted(known)}"
    fast = functools.partial(fetch.FetchOptions, **{k: v for k, v in want.items() if k in known})
    monkeypatch.setattr(fetch, "FetchOptions", fast)


def two_mirror_manifest(world, dest: Path, first: str, second: str) -> Path:
    doc = yaml.safe_load(DEFAULT_MANIFEST.read_text())
    for repo in doc["el"]["7"]["repos"]:
        rid = repo["id"]
        repo["baseurls"] = [world.repo_url(first, rid), world.repo_url(second, rid)]
        repo["gpgkeys"] = [world.keys[rid].as_uri()]
        repo["fingerprints"] = [world.fingerprints[rid]]   # the world's per-build test key, pinned
    dest.write_text(yaml.safe_dump(doc, sort_keys=False))
    return dest


def build(tmp: Path, manifest: Path, capsys, cache: Path | None = None) -> tuple[int, str, str]:
    out = tmp / "out"
    code = main(["-q", "build", "--el", "7", "--role", ROLE, "--manifest", str(manifest), "--out", str(out),
                 "--cache", str(cache or tmp / "cache"), "--jobs", "4"])
    o, e = capsys.readouterr()
    e = MIRROR_NOISE.sub("", e)
    assert "Traceback" not in e and "Internal error" not in e, e
    return code, o, e


def served(mirror, kind: str) -> list:
    """The faulty answers for TARGET; a stalled answer is logged when the stall ends (bounded wait)."""
    deadline = time.monotonic() + STALL + 3
    while True:
        hits = [e for e in mirror.requests_for(TARGET) if e.fault == kind]
        if hits or time.monotonic() > deadline:
            return hits
        time.sleep(0.1)


def world_file_named(world, msg: str) -> bytes:
    """The good bytes of the package the error message names ("(repo 'R', LOCATION)")."""
    m = re.search(r"\(repo '([^']+)', ([^)]+)\)", msg)
    assert m, msg
    return (world.repos[m.group(1)] / m.group(2)).read_bytes()


def assert_cache_clean(cache: Path, world) -> None:
    """No bad file: each cache entry hashes to its name; a .part is a true prefix of a world file."""
    pkgs = cache / "pkgs" / "sha256"
    if not pkgs.exists():
        return
    world_by_hash = None
    for p in pkgs.rglob("*"):
        if not p.is_file() or p.name.endswith(".lock"):
            continue
        if p.name.endswith(".part"):
            if world_by_hash is None:
                world_by_hash = {hashlib.sha256(f.read_bytes()).hexdigest(): f
                                 for f in Path(world.root).rglob("*.rpm")}
            good = world_by_hash[p.name[:-5]].read_bytes()
            assert good.startswith(p.read_bytes()), f"{p} holds bytes that are not a prefix of the good file"
            continue
        assert hashlib.sha256(p.read_bytes()).hexdigest() == p.name, f"bad cache entry {p}"


def assert_good_bundle(tmp: Path) -> dict:
    tars = list((tmp / "out").glob("*.tar"))
    assert len(tars) == 1
    return verify.verify_bundle(tars[0])


@pytest.mark.parametrize("kind", PACKAGE_FAULTS)
def test_package_fault_with_healthy_mirror(kind, world, mirrors, tmp_path, capsys):
    bad, good = mirrors
    label, kind = kind, inject(bad, kind)
    man = two_mirror_manifest(world, tmp_path / "m.yaml", bad.url, good.url)
    t0 = time.monotonic()
    code, out, err = build(tmp_path, man, capsys)
    took = time.monotonic() - t0
    assert code == 0, err
    info = assert_good_bundle(tmp_path)
    hit_bad = served(bad, kind)
    got_good = [e for e in good.requests_for(TARGET) if e.status in (200, 206)]
    assert hit_bad, f"the fault was never served: {bad.log}"
    assert_cache_clean(tmp_path / "cache", world)
    if label in BYTES_STILL_GOOD:
        source = "the faulty mirror's bytes matched the lock's sha256" if not got_good else \
            f"{got_good[0].status} from the healthy mirror"
        record(f"package {label}, healthy 2nd mirror", label, True, "build succeeds; bundle verifies",
               f"exit 0; {source}; bundle verified ({info['files']} files); {took:.1f}s")
        return
    assert got_good, "the package did not come from the healthy mirror"
    record(f"package {label}, healthy 2nd mirror", label, True, "build succeeds from the 2nd mirror; bundle verifies",
           f"exit 0; {len(hit_bad)} faulty answer(s), then {got_good[0].status} from the healthy mirror; "
           f"bundle verified ({info['files']} files); {took:.1f}s")


@pytest.mark.parametrize("kind", PACKAGE_FAULTS)
def test_package_fault_on_every_mirror(kind, world, mirrors, tmp_path, capsys):
    bad, bad2 = mirrors
    label, kind = kind, inject(bad, kind)
    inject(bad2, label)
    man = two_mirror_manifest(world, tmp_path / "m.yaml", bad.url, bad2.url)
    code, out, err = build(tmp_path, man, capsys)
    if label in BYTES_STILL_GOOD:
        assert code == 0, err
        info = assert_good_bundle(tmp_path)
        assert_cache_clean(tmp_path / "cache", world)
        assert served(bad, kind) or served(bad2, kind)
        record(f"package {label}, no healthy mirror", label, False,
               "the right bytes under a wrong Content-Length: accepted by sha256; build succeeds",
               f"exit 0; bundle verified ({info['files']} files)")
        return
    assert code == EXIT_FETCH, err
    msg = err[err.index("Error:"):]
    assert "MariaDB-server" in msg and bad.url in msg and bad2.url in msg, msg
    good = world_file_named(world, msg)
    expected = hashlib.sha256(good).hexdigest()
    assert f"sha256:{expected}" in msg, msg
    if kind == "flip":
        flipped = [line for line in msg.splitlines() if "checksum mismatch (got sha256:" in line]
        assert flipped and expected not in flipped[0], msg
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
    assert_cache_clean(tmp_path / "cache", world)
    tried = [line.strip()[2:] for line in msg.splitlines() if line.strip().startswith("- ")]
    reasons = sorted({t.split(".rpm: ", 1)[-1] for t in tried})
    record(f"package {label}, no healthy mirror", label, False,
           "exit 5 naming package, both mirrors, the expected sha256"
           + (" and the actual one" if kind == "flip" else " and each mirror's failure") + "; no bad file kept",
           f"exit {code}; {len(tried)} attempts on 2 mirrors named, each with its reason: "
           + "; ".join(f"`{r[:70]}`" for r in reasons[:2]))


def test_metadata_checksum_mismatch_healthy_mirror(world, mirrors, tmp_path, capsys):
    bad, good = mirrors
    bad.set_fault("*/repodata/*", "bad-metadata")
    man = two_mirror_manifest(world, tmp_path / "m.yaml", bad.url, good.url)
    code, out, err = build(tmp_path, man, capsys)
    assert code == 0, err
    assert_good_bundle(tmp_path)
    assert [e for e in bad.log if e.fault == "bad-metadata"]
    record("metadata checksum mismatch, healthy 2nd mirror", "bad-metadata", True,
           "metadata taken from the 2nd mirror; build succeeds", "exit 0; bundle verified")


def test_metadata_checksum_mismatch_every_mirror(world, mirrors, tmp_path, capsys):
    bad, bad2 = mirrors
    bad.set_fault("*/repodata/*", "bad-metadata")
    bad2.set_fault("*/repodata/*", "bad-metadata")
    man = two_mirror_manifest(world, tmp_path / "m.yaml", bad.url, bad2.url)
    code, out, err = build(tmp_path, man, capsys)
    assert code == EXIT_FETCH, err
    msg = err[err.index("Error:"):]
    assert bad.url in msg and bad2.url in msg and "checksum mismatch" in msg, msg
    assert re.search(r"says sha256:[0-9a-f]{64}, the file has sha256:[0-9a-f]{64}", msg), msg
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
    assert_cache_clean(tmp_path / "cache", world)
    record("metadata checksum mismatch, no healthy mirror", "bad-metadata", False,
           "exit 5 naming the repo, the mirrors and expected vs actual checksums",
           f"exit {code}; `{msg.splitlines()[0][:110]}...`")


def test_kill_9_mid_download_then_resume_with_range(world, tmp_path, mirror_factory):
    """A real `wcbundle build` process is killed while a package is half-downloaded; the re-run resumes it."""
    pin = yaml.safe_load(DEFAULT_MANIFEST.read_text())["el"]["7"]["pins"]["mariadb"]
    big = next((world.repos["mariadb"] / "Packages").glob(f"MariaDB-server-{pin}-*.rpm"))   # the one the lock picks
    size = big.stat().st_size
    rate = max(size / 6, 20_000)   # about 6 s for the biggest package: time to kill it in the middle
    man_dir = tmp_path / "m"
    man_dir.mkdir()
    cache = tmp_path / "cache"
    slow = mirror_factory(world.root, rate=rate)
    man = two_mirror_manifest(world, man_dir / "m.yaml", slow.url, slow.url)
    proc = subprocess.Popen(["wcbundle", "-q", "build", "--el", "7", "--role", ROLE, "--manifest", str(man),
                             "--out", str(tmp_path / "out"), "--cache", str(cache), "--jobs", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    part = fetch.cache_path(cache, "sha256:" + hashlib.sha256(big.read_bytes()).hexdigest())
    part = part.with_name(part.name + ".part")
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if part.exists() and size * 0.2 < part.stat().st_size < size * 0.8:
                break
            time.sleep(0.05)
        assert proc.poll() is None, f"build ended before the kill: {proc.communicate()[1][-2000:]}"
        assert part.exists() and part.stat().st_size < size
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    prefix = part.stat().st_size
    assert big.read_bytes().startswith(part.read_bytes())
    slow.link.rate = None          # the line is fast again
    slow.reset_log()
    res = subprocess.run(["wcbundle", "-q", "build", "--el", "7", "--role", ROLE, "--manifest", str(man),
                          "--out", str(tmp_path / "out"), "--cache", str(cache)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    ranged = [e for e in slow.requests_for(f"*/{big.name}") if e.range]
    assert ranged, [vars(e) for e in slow.requests_for(f"*/{big.name}")]
    start = int(ranged[0].range.split("=")[1].split("-")[0])
    assert 0 < start <= prefix and ranged[0].status == 206
    final = fetch.cache_path(cache, "sha256:" + hashlib.sha256(big.read_bytes()).hexdigest())
    assert hashlib.sha256(final.read_bytes()).hexdigest() == final.name
    assert not part.exists()
    assert_good_bundle(tmp_path)
    record("kill -9 mid-download, re-run", "SIGKILL", True,
           "re-run resumes with Range, checksums correct, bundle verifies",
           f"killed at {prefix}/{size} bytes of {big.name}; re-run sent `Range: {ranged[0].range}` -> 206; "
           "bundle verified")

