"""The fault-injecting mirror (scripts/mirror.py) against a real requests client on 127.0.0.1."""

from __future__ import annotations

import gzip
import hashlib
import lzma
import subprocess
import sys
import threading
import time

import pytest
import requests

from scripts.mirror import FAULT_KINDS, Mirror, parse_duration, parse_rate

BODY = bytes(range(256)) * 1024          # 256 KiB, every offset distinguishable


@pytest.fixture
def root(tmp_path):
    (tmp_path / "pkgs").mkdir()
    (tmp_path / "pkgs" / "a.rpm").write_bytes(BODY)
    (tmp_path / "pkgs" / "b.rpm").write_bytes(BODY[::-1])
    repodata = tmp_path / "repo" / "repodata"
    repodata.mkdir(parents=True)
    primary = gzip.compress(b"<metadata packages=\"0\"/>\n", mtime=0)
    (repodata / "primary.xml.gz").write_bytes(primary)
    (repodata / "modules.yaml.xz").write_bytes(lzma.compress(b"---\ndocument: modulemd\n...\n"))
    digest = hashlib.sha256(primary).hexdigest()
    (repodata / "repomd.xml").write_text(
        f'<repomd><data type="primary"><checksum type="sha256">{digest}</checksum>'
        f'<location href="repodata/primary.xml.gz"/></data></repomd>\n')
    return tmp_path


@pytest.fixture
def mirror(root):
    with Mirror(root, stall_seconds=3) as m:
        yield m


def get(url, **kw):
    kw.setdefault("timeout", 5)
    return requests.get(url, **kw)


def body(url, **kw) -> bytes:
    """GET and read the whole body (where a fault makes the read itself fail)."""
    return get(url, **kw).content


def test_serves_files_with_keepalive_and_logs(mirror):
    with requests.Session() as s:
        r1 = s.get(mirror.url + "/pkgs/a.rpm", timeout=5)
        r2 = s.get(mirror.url + "/pkgs/b.rpm", timeout=5)
    assert r1.status_code == 200 and r1.content == BODY
    assert r2.content == BODY[::-1]
    assert r1.headers["Content-Length"] == str(len(BODY))
    assert get(mirror.url + "/nope").status_code == 404
    assert get(mirror.url + "/../../etc/passwd").status_code == 404
    log = mirror.wait_requests(4)
    assert [(e.path, e.status, e.bytes_sent) for e in log[:2]] == [
        ("/pkgs/a.rpm", 200, len(BODY)), ("/pkgs/b.rpm", 200, len(BODY))]
    assert len(mirror._conns) <= 2   # both requests on one kept-alive connection (or closed already)


def test_empty_and_large_files(mirror, root):
    (root / "empty").write_bytes(b"")
    big = hashlib.shake_256(b"big").digest(12 << 20)
    (root / "big.tar").write_bytes(big)
    r = get(mirror.url + "/empty")
    assert r.status_code == 200 and r.content == b"" and r.headers["Content-Length"] == "0"
    got = get(mirror.url + "/big.tar", timeout=30).content
    assert hashlib.sha256(got).digest() == hashlib.sha256(big).digest()
    tail = get(mirror.url + "/big.tar", headers={"Range": f"bytes={len(big) - 5}-"}).content
    assert tail == big[-5:]


@pytest.mark.parametrize("header,start,end", [
    ("bytes=100-199", 100, 200), ("bytes=1000-", 1000, len(BODY)), ("bytes=-10", len(BODY) - 10, len(BODY)),
    ("bytes=0-999999999", 0, len(BODY)),
])
def test_range(mirror, header, start, end):
    r = get(mirror.url + "/pkgs/a.rpm", headers={"Range": header})
    assert r.status_code == 206
    assert r.content == BODY[start:end]
    assert r.headers["Content-Range"] == f"bytes {start}-{end - 1}/{len(BODY)}"
    assert mirror.wait_requests(1)[-1].range == header


def test_unsatisfiable_range(mirror):
    r = get(mirror.url + "/pkgs/a.rpm", headers={"Range": f"bytes={len(BODY)}-"})
    assert r.status_code == 416
    assert r.headers["Content-Range"] == f"bytes */{len(BODY)}"


@pytest.mark.parametrize("kind", ["404", "500"])
def test_status_faults_then_recover(mirror, kind):
    mirror.set_fault("*.rpm", kind, times=2)
    assert get(mirror.url + "/pkgs/a.rpm").status_code == int(kind)
    assert get(mirror.url + "/pkgs/b.rpm").status_code == int(kind)
    r = get(mirror.url + "/pkgs/a.rpm")
    assert r.status_code == 200 and r.content == BODY     # times=2 spent
    assert [e.fault for e in mirror.wait_requests(3)] == [kind, kind, None]


def test_reset_mid_body(mirror):
    mirror.set_fault("/pkgs/a.rpm", "reset")
    with pytest.raises(requests.exceptions.RequestException):
        body(mirror.url + "/pkgs/a.rpm")
    entry = mirror.wait_requests(1)[-1]
    assert entry.fault == "reset" and 0 < entry.bytes_sent < len(BODY)


def test_truncate(mirror):
    mirror.set_fault("*/a.rpm", "truncate", times=1)
    with pytest.raises(requests.exceptions.RequestException):
        body(mirror.url + "/pkgs/a.rpm")
    assert mirror.wait_requests(1)[0].bytes_sent == len(BODY) // 2
    assert get(mirror.url + "/pkgs/a.rpm").content == BODY


def test_flip_keeps_length_changes_one_byte(mirror):
    mirror.set_fault("*.rpm", "flip")
    data = get(mirror.url + "/pkgs/a.rpm").content
    assert len(data) == len(BODY) and data != BODY
    assert sum(1 for x, y in zip(data, BODY) if x != y) == 1
    # also inside a Range answer
    part = get(mirror.url + "/pkgs/a.rpm", headers={"Range": "bytes=10-19"}).content
    assert len(part) == 10 and part != BODY[10:20]


def test_stall_is_bounded_and_client_timeout_fires(mirror):
    mirror.set_fault("*.rpm", "stall")
    t0 = time.monotonic()
    with pytest.raises(requests.exceptions.ConnectionError):   # read timeout surfaces mid-body
        body(mirror.url + "/pkgs/a.rpm", timeout=(2, 0.5))
    assert time.monotonic() - t0 < 3
    # the server side gives up after stall_seconds even if the client waits forever
    t0 = time.monotonic()
    with pytest.raises(requests.exceptions.RequestException):
        body(mirror.url + "/pkgs/a.rpm", timeout=30)
    assert 2.5 < time.monotonic() - t0 < 10


def test_stall_before_headers(mirror):
    mirror.set_fault("*.rpm", "stall-headers", times=1)
    t0 = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        get(mirror.url + "/pkgs/a.rpm", timeout=(2, 0.5))
    assert time.monotonic() - t0 < 2
    assert get(mirror.url + "/pkgs/a.rpm").content == BODY     # times=1 spent


def test_trickle_sends_a_byte_at_a_time(mirror):
    mirror.set_fault("*.rpm", "trickle")
    with pytest.raises(requests.exceptions.RequestException):
        body(mirror.url + "/pkgs/a.rpm", timeout=30)
    assert 1 <= mirror.wait_requests(1)[-1].bytes_sent <= 5


@pytest.mark.parametrize("delta", [1000, -1000])
def test_wrong_content_length(mirror, delta):
    mirror.set_fault("*.rpm", "wrong-length", delta=delta)
    if delta > 0:   # announces more than it sends: the client sees a short read
        with pytest.raises(requests.exceptions.RequestException):
            body(mirror.url + "/pkgs/a.rpm")
    else:           # announces less: the client gets a short, wrong body
        data = get(mirror.url + "/pkgs/a.rpm").content
        assert len(data) == len(BODY) + delta and data != BODY


def test_redirect_loop(mirror):
    mirror.set_fault("*.rpm", "redirect-loop")
    with pytest.raises(requests.exceptions.TooManyRedirects):
        get(mirror.url + "/pkgs/a.rpm")
    log = mirror.wait_requests(6)
    assert all(e.status == 302 for e in log)


def test_bad_metadata(mirror, root):
    mirror.set_fault("/repo/repodata/*", "bad-metadata")
    repomd = get(mirror.url + "/repo/repodata/repomd.xml").text
    primary = get(mirror.url + "/repo/repodata/primary.xml.gz").content
    real = (root / "repo/repodata/primary.xml.gz").read_bytes()
    assert hashlib.sha256(real).hexdigest() not in repomd            # repomd's checksum is wrong
    assert primary != real and gzip.decompress(primary).startswith(b"<metadata")  # valid gzip, other bytes
    modules = get(mirror.url + "/repo/repodata/modules.yaml.xz").content
    assert modules != (root / "repo/repodata/modules.yaml.xz").read_bytes()
    assert lzma.decompress(modules).startswith(b"---\ndocument: modulemd")
    mirror.clear_faults()
    assert hashlib.sha256(real).hexdigest() in get(mirror.url + "/repo/repodata/repomd.xml").text


def test_link_model_caps_bandwidth_across_connections(root):
    rate = 1_000_000   # 1 MB/s shared: two parallel 256 KiB downloads need >= ~0.5 s together
    with Mirror(root, rate=rate, latency=0.05) as m:
        t0 = time.monotonic()
        threads = [threading.Thread(target=get, args=(m.url + p,)) for p in ("/pkgs/a.rpm", "/pkgs/b.rpm")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        elapsed = time.monotonic() - t0
        assert sum(e.bytes_sent for e in m.wait_requests(2)) == 2 * len(BODY)
    assert 2 * len(BODY) / rate * 0.9 <= elapsed < 3


def test_runtime_changes_and_unknown_fault(mirror):
    with pytest.raises(ValueError):
        mirror.set_fault("*", "explode")
    mirror.set_fault("*/a.rpm", "404")
    assert get(mirror.url + "/pkgs/b.rpm").status_code == 200
    assert get(mirror.url + "/pkgs/a.rpm").status_code == 404
    mirror.clear_faults()
    assert get(mirror.url + "/pkgs/a.rpm").status_code == 200
    mirror.wait_requests(3)
    assert len(mirror.requests_for("*/a.rpm")) == 2
    assert set(FAULT_KINDS) >= {"404", "500", "reset", "truncate", "flip", "stall", "stall-headers", "trickle",
                                "wrong-length", "redirect-loop", "bad-metadata"}


def test_stop_ends_stalled_and_idle_connections(root):
    m = Mirror(root, stall_seconds=60).start()
    idle = requests.Session()
    assert idle.get(m.url + "/pkgs/b.rpm", timeout=5).status_code == 200   # leaves a kept-alive connection
    m.set_fault("*/a.rpm", "stall")
    errors = []

    def stalled():
        try:
            body(m.url + "/pkgs/a.rpm", timeout=30)
        except requests.exceptions.RequestException as exc:
            errors.append(exc)
    t = threading.Thread(target=stalled)
    t.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    m.stop()
    t.join(10)
    assert time.monotonic() - t0 < 5
    assert not t.is_alive() and errors
    idle.close()


def test_parsers():
    assert parse_rate("100M") == 100e6
    assert parse_rate("100Mbit") == 12.5e6
    assert parse_rate("0") is None
    assert parse_duration("40ms") == pytest.approx(0.04)
    assert parse_duration("2s") == 2
    with pytest.raises(ValueError):
        parse_rate("fast")


def test_cli_prints_url_and_serves(root):
    proc = subprocess.Popen([sys.executable, "-m", "scripts.mirror", "--root", str(root), "--port", "0",
                             "--rate", "100Mbit", "--latency", "10ms", "--fault", "*/b.rpm=500:1"],
                            stdout=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        assert get(url + "/pkgs/a.rpm").content == BODY
        assert get(url + "/pkgs/b.rpm").status_code == 500
        assert get(url + "/pkgs/b.rpm").status_code == 200
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
