"""fetch.py against a real HTTP server on 127.0.0.1 with scripted faults.

The server here is deliberately tiny (Range, a per-path fault script and a
request log); the fixture world's mirror (scripts/mirror.py) is used by the
integration tests and the benchmark.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import threading
import time
from pathlib import Path

import pytest

from bundler.assemble.fetch import FetchOptions, FetchStats, cache_path, fetch_all
from bundler.core.errors import FetchError
from bundler.lock import Lock
from tests.support.locks import as_lock, lock_dict

FAST = FetchOptions(tries_per_url=2, backoff=0.01, connect_timeout=2, read_timeout=1.0, speed_time=1.0,
                    min_rate=1024, lock_wait=5)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):  # noqa: N802 - http.server's naming
        srv = self.server
        path = self.path.split("?")[0]
        srv.log.append((path, self.headers.get("Range")))
        faults = srv.faults.get(path, [])
        fault = faults.pop(0) if faults else None
        body = srv.files.get(path)
        if body is None or fault == "404":
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if fault == "500":
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if fault == "corrupt":
            body = bytes([body[0] ^ 0xFF]) + body[1:]
        start = 0
        rng = self.headers.get("Range")
        if rng and fault != "ignore-range":
            start = int(rng.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        extra = 1000 if fault == "wrong-length" else 0  # announce more than is sent, then close
        self.send_header("Content-Length", str(len(body) - start + extra))
        if extra:
            self.close_connection = True
        self.end_headers()
        data = body[start:]
        if fault == "truncate":  # half the bytes, then the connection drops
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if fault == "trickle":  # one byte every 0.1 s (slow-loris that beats a read timeout)
            for i in range(40):
                self.wfile.write(data[i:i + 1])
                self.wfile.flush()
                time.sleep(0.1)
            self.close_connection = True
            return
        if fault == "stall":  # a few bytes, then silence (slow-loris)
            self.wfile.write(data[:10])
            self.wfile.flush()
            time.sleep(3)
            self.close_connection = True
            return
        self.wfile.write(data)


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.files, srv.faults, srv.log = {}, {}, []
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    srv.base = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()
    srv.server_close()


def _pkg(name: str, body: bytes, repo: str = "r1") -> dict:
    return {"name": name, "epoch": 0, "version": "1", "release": "1", "arch": "noarch", "repo": repo,
            "location": f"Packages/{name}.rpm", "url": "",
            "checksum": "sha256:" + hashlib.sha256(body).hexdigest(), "size": len(body)}


def _lock(pkgs: list[dict], baseurls: list[str]) -> Lock:
    for p in pkgs:
        p["url"] = baseurls[0] + "/" + p["location"]
    return as_lock(lock_dict(pkgs, {"r1": {"baseurls": baseurls, "gpgkeys": []}}))


def _serve(srv, pkgs: list[tuple[str, bytes]], prefix: str = "") -> list[dict]:
    out = []
    for name, body in pkgs:
        p = _pkg(name, body)
        srv.files[f"{prefix}/{p['location']}"] = body
        out.append(p)
    return out


def _cache_files(cache: Path) -> list[str]:
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file())


def test_cold_then_warm(server, tmp_path):
    bodies = [(f"p{i}", os.urandom(50_000 + i)) for i in range(6)]
    pkgs = _serve(server, bodies)
    lock = _lock(pkgs, [server.base])
    stats = FetchStats()
    got = fetch_all(lock, tmp_path, jobs=3, quiet=True, opts=FAST, stats=stats)
    assert len(got) == 6 and stats.downloaded == 6 and stats.cached == 0
    assert stats.bytes_downloaded == sum(len(b) for _, b in bodies)
    for p in pkgs:
        path = got[p["checksum"]]
        assert path == cache_path(tmp_path, p["checksum"])
        assert hashlib.sha256(path.read_bytes()).hexdigest() == p["checksum"][7:]
    assert not list(tmp_path.rglob("*.part"))
    n_requests = len(server.log)
    stats2 = FetchStats()
    fetch_all(lock, tmp_path, jobs=3, quiet=True, opts=FAST, stats=stats2)
    assert len(server.log) == n_requests, "a warm cache must not touch the network"
    assert stats2.bytes_downloaded == 0 and stats2.cached == 6


def test_mismatch_everywhere_names_everything_and_leaves_nothing(server, tmp_path):
    pkgs = _serve(server, [("bad", b"A" * 4096)])
    server.files["/m2/Packages/bad.rpm"] = b"A" * 4096
    server.faults["/Packages/bad.rpm"] = ["corrupt"]
    server.faults["/m2/Packages/bad.rpm"] = ["corrupt"]
    lock = _lock(pkgs, [server.base, server.base + "/m2"])
    with pytest.raises(FetchError) as ei:
        fetch_all(lock, tmp_path, quiet=True, opts=FAST)
    msg = ei.value.message
    assert "bad-0:1-1.noarch" in msg and "repo 'r1'" in msg
    assert f"{server.base}/Packages/bad.rpm: checksum mismatch" in msg
    assert f"{server.base}/m2/Packages/bad.rpm: checksum mismatch" in msg
    expected = pkgs[0]["checksum"]
    actual = hashlib.sha256(b"\xbe" + b"A" * 4095).hexdigest()
    assert f"Expected {expected}" in msg and f"sha256:{actual}" in msg
    assert _cache_files(tmp_path) == []


def test_failover_to_second_mirror(server, tmp_path):
    pkgs = _serve(server, [("x", b"x" * 10000)], prefix="/good")
    lock = _lock(pkgs, [server.base + "/missing", server.base + "/good"])
    got = fetch_all(lock, tmp_path, quiet=True, opts=FAST)
    assert got[pkgs[0]["checksum"]].read_bytes() == b"x" * 10000
    assert [p for p, _ in server.log] == ["/missing/Packages/x.rpm", "/good/Packages/x.rpm"]


def test_transient_500_is_retried(server, tmp_path):
    pkgs = _serve(server, [("y", b"y" * 1000)])
    server.faults["/Packages/y.rpm"] = ["500"]
    fetch_all(_lock(pkgs, [server.base]), tmp_path, quiet=True, opts=FAST)
    assert len(server.log) == 2


def test_truncated_transfer_resumes_with_range(server, tmp_path):
    body = os.urandom(200_000)
    pkgs = _serve(server, [("big", body)])
    server.faults["/Packages/big.rpm"] = ["truncate"]
    stats = FetchStats()
    got = fetch_all(_lock(pkgs, [server.base]), tmp_path, quiet=True, opts=FAST, stats=stats)
    assert got[pkgs[0]["checksum"]].read_bytes() == body
    assert server.log[0] == ("/Packages/big.rpm", None)
    assert server.log[1] == ("/Packages/big.rpm", "bytes=100000-")
    assert stats.resumed == 1 and stats.bytes_downloaded == len(body)


def test_existing_part_is_rehashed_and_server_ignoring_range_restarts(server, tmp_path):
    body = os.urandom(30_000)
    pkgs = _serve(server, [("r", body)])
    final = cache_path(tmp_path, pkgs[0]["checksum"])
    final.parent.mkdir(parents=True)
    part = final.with_name(final.name + ".part")
    part.write_bytes(b"garbage-prefix")  # a bad prefix from an earlier, interrupted run
    server.faults["/Packages/r.rpm"] = ["ignore-range"]
    got = fetch_all(_lock(pkgs, [server.base]), tmp_path, quiet=True, opts=FAST)
    assert got[pkgs[0]["checksum"]].read_bytes() == body
    assert server.log == [("/Packages/r.rpm", "bytes=14-")]
    assert not part.exists()


def test_bad_resumed_prefix_is_discarded(server, tmp_path):
    body = os.urandom(30_000)
    pkgs = _serve(server, [("q", body)])
    final = cache_path(tmp_path, pkgs[0]["checksum"])
    final.parent.mkdir(parents=True)
    final.with_name(final.name + ".part").write_bytes(b"\0" * 100)
    with pytest.raises(FetchError, match="checksum mismatch"):
        fetch_all(_lock(pkgs, [server.base]), tmp_path, quiet=True, opts=FAST)
    assert _cache_files(tmp_path) == []
    # the next run starts clean and succeeds
    fetch_all(_lock(pkgs, [server.base]), tmp_path, quiet=True, opts=FAST)
    assert final.read_bytes() == body


@pytest.mark.parametrize("fault", ["stall", "trickle"])
def test_slow_loris_is_cut_off_and_fails_over(server, tmp_path, fault):
    """stall: nothing after 10 bytes (read timeout); trickle: 10 B/s (below min_rate over speed_time)."""
    pkgs = _serve(server, [("s", os.urandom(20_000))])
    server.files["/m2/Packages/s.rpm"] = server.files["/Packages/s.rpm"]
    server.faults["/Packages/s.rpm"] = [fault, fault]
    t0 = time.monotonic()
    fetch_all(_lock(pkgs, [server.base, server.base + "/m2"]), tmp_path, quiet=True, opts=FAST)
    assert time.monotonic() - t0 < 8
    assert [p for p, _ in server.log] == ["/Packages/s.rpm"] * 2 + ["/m2/Packages/s.rpm"]


def test_overlong_content_length_with_all_bytes_is_accepted_by_hash(server, tmp_path):
    body = os.urandom(5000)
    pkgs = _serve(server, [("w", body)])
    server.faults["/Packages/w.rpm"] = ["wrong-length"]
    got = fetch_all(_lock(pkgs, [server.base]), tmp_path, quiet=True, opts=FAST)
    assert got[pkgs[0]["checksum"]].read_bytes() == body and len(server.log) == 1


def test_corrupted_cache_entry_is_replaced(server, tmp_path):
    pkgs = _serve(server, [("c", b"c" * 5000)])
    lock = _lock(pkgs, [server.base])
    path = fetch_all(lock, tmp_path, quiet=True, opts=FAST)[pkgs[0]["checksum"]]
    path.write_bytes(b"tampered")
    fetch_all(lock, tmp_path, quiet=True, opts=FAST)
    assert path.read_bytes() == b"c" * 5000 and len(server.log) == 2


def test_file_urls_are_copied_and_hashed(tmp_path):
    src = tmp_path / "repo" / "Packages"
    src.mkdir(parents=True)
    (src / "f.rpm").write_bytes(b"file-body")
    p = _pkg("f", b"file-body")
    lock = _lock([p], [(tmp_path / "repo").as_uri()])
    got = fetch_all(lock, tmp_path / "cache", quiet=True, opts=FAST)
    assert got[p["checksum"]].read_bytes() == b"file-body"
    (src / "f.rpm").write_bytes(b"file-bodX")
    p2 = dict(p, checksum="sha256:" + hashlib.sha256(b"file-body-2").hexdigest())
    with pytest.raises(FetchError, match="checksum mismatch"):
        fetch_all(_lock([p2], [(tmp_path / "repo").as_uri()]), tmp_path / "cache", quiet=True, opts=FAST)


def test_unusable_checksum_is_refused(tmp_path):
    p = _pkg("m", b"m")
    p["checksum"] = "md5:abc"
    with pytest.raises(FetchError, match="only sha256"):
        fetch_all(_lock([p], ["http://127.0.0.1:9"]), tmp_path, quiet=True, opts=FAST)


def test_two_builds_sharing_a_cache_download_each_file_once(server, tmp_path):
    bodies = [(f"s{i}", os.urandom(40_000)) for i in range(5)]
    pkgs = _serve(server, bodies)
    lock = _lock(pkgs, [server.base])
    results, errors = [], []

    def one():
        try:
            results.append(fetch_all(lock, tmp_path, jobs=2, quiet=True, opts=FAST))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors and len(results) == 3 and results[0] == results[1] == results[2]
    assert sorted(p for p, _ in server.log) == sorted(f"/{p['location']}" for p in pkgs)
    assert len(_cache_files(tmp_path)) == 5  # entries only: no .part, no .lock left


def _hostile_local(tmp_path: Path, plant) -> tuple[Lock, Path, dict]:
    """A file:// repo whose Packages/h.rpm is what `plant(path)` makes of it; the lock expects 9 bytes."""
    repo = tmp_path / "repo"
    (repo / "Packages").mkdir(parents=True)
    p = _pkg("h", b"h-package")
    plant(repo / "Packages" / "h.rpm")
    return _lock([p], [repo.as_uri()]), tmp_path / "cache", p


def _outside(path: Path, body: bytes) -> None:
    """path -> a file with the right bytes, but outside the repo root."""
    (path.parents[2] / "outside.rpm").write_bytes(body)
    path.symlink_to(path.parents[2] / "outside.rpm")


@pytest.mark.parametrize("plant,words", [
    (lambda path: path.symlink_to("/dev/zero"), "outside the repo root"),
    (lambda path: os.mkfifo(path), "not a regular file"),
    (lambda path: _outside(path, b"h-package"), "outside the repo root"),
], ids=["symlink-to-dev-zero", "fifo", "symlink-out-of-the-repo"])
def test_a_hostile_local_repo_is_refused_quickly_and_leaves_nothing(tmp_path, plant, words):
    """Review of issue 10: a file:// package was opened by path and read to EOF, its size checked afterwards:
    a symlink to /dev/zero wrote GBs into the cache, a FIFO hung the build."""
    lock, cache, _ = _hostile_local(tmp_path, plant)
    t0 = time.monotonic()
    with pytest.raises(FetchError, match=words) as exc:
        fetch_all(lock, cache, quiet=True, opts=FAST)
    assert time.monotonic() - t0 < 10
    assert "could not download h-" in exc.value.message
    assert _cache_files(cache) == []


def test_a_local_href_escaping_the_repo_with_dotdot_is_refused(tmp_path):
    (tmp_path / "secret.rpm").write_bytes(b"h-package")
    repo = tmp_path / "repo"
    repo.mkdir()
    p = _pkg("h", b"h-package")
    p["location"] = "../secret.rpm"
    lock = as_lock(lock_dict([dict(p, url=repo.as_uri() + "/../secret.rpm")],
                             {"r1": {"baseurls": [repo.as_uri()], "gpgkeys": []}}))
    with pytest.raises(FetchError, match="not a plain path inside the repo"):
        fetch_all(lock, tmp_path / "cache", quiet=True, opts=FAST)
    # a lock url with no repo behind it: '..' is refused too (its own folder is its root)
    lock = as_lock(lock_dict([dict(p, url=repo.as_uri() + "/../secret.rpm")], {"r1": {"baseurls": [], "gpgkeys": []}}))
    with pytest.raises(FetchError, match="without '.' or '..' parts"):
        fetch_all(lock, tmp_path / "cache", quiet=True, opts=FAST)
    assert _cache_files(tmp_path / "cache") == []


def test_a_longer_local_file_is_read_only_to_its_size_plus_one(tmp_path):
    lock, cache, p = _hostile_local(tmp_path, lambda path: path.write_bytes(b"h-package" + b"x" * 5_000_000))
    stats = FetchStats()
    with pytest.raises(FetchError, match="more than 9 bytes"):
        fetch_all(lock, cache, quiet=True, opts=FAST, stats=stats)
    assert stats.bytes_downloaded <= 2 * (9 + 1)   # two tries at most, each stopped after 10 bytes
    assert _cache_files(cache) == []
