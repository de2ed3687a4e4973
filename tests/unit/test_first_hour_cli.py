"""Issue 16, builder CLI points 8-17: what a new user tripped over in the first hour.

Each test names its point. They run `bundler.cli.main` in-process against the real
CentOS 7.5 metadata in tests/data (file:// repos) or against real sockets on 127.0.0.1;
the only stand-in is the name resolver of test 11 (no DNS may be asked from here).
"""

from __future__ import annotations

import json
import os
import socket
import threading
from pathlib import Path

import pytest
import yaml
from test_verify import make_bundle

from bundler.cli import main
from bundler.core.errors import EXIT_FETCH, EXIT_INPUT, EXIT_RESOLVE, EXIT_USAGE
from bundler.core.paths import MANIFESTS
from tests.support.locks import as_lock, lock_dict

C7 = Path(__file__).resolve().parents[1] / "data" / "realmeta" / "centos7.5-dvd-x86_64"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("wcb-cache-first-hour"))


def wcb(capsys, *argv) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Listener:
    """A real TCP listener on 127.0.0.1 that counts connections (and answers none)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self):
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def listener():
    lst = Listener()
    yield lst
    lst.close()


# ---------------------------------------------------------------- 8: verify on a missing file

def test_8_verify_and_inspect_of_a_missing_file_are_usage_errors(tmp_path, capsys):
    for argv in (["verify", tmp_path / "nope.tar"], ["verify", tmp_path / "nope.tar.parts.json"],
                 ["verify", tmp_path / "nope.tar.part001"], ["inspect", tmp_path / "nope.tar"]):
        code, out, err = wcb(capsys, *argv)
        assert code == EXIT_USAGE, (argv, err)
        assert "no such bundle" in err and "Check the path" in err and "Traceback" not in err


def test_8_a_missing_part_of_an_existing_split_is_still_an_integrity_failure(tmp_path, capsys):
    tar = make_bundle(tmp_path)
    assert wcb(capsys, "split", tar, "4K")[0] == 0
    tar.unlink()
    first = sorted(tmp_path.glob("*.part0*"))[0]
    first.unlink()
    code, _, err = wcb(capsys, "verify", first)
    assert code == 6, err


# ---------------------------------------------------------------- 9 + 15: local inputs before the network

def test_9_a_garbage_baseline_is_refused_before_any_network_access(tmp_path, capsys, listener):
    capture = tmp_path / "baseline.txt"
    capture.write_text("bash-0:4.2.46-34.el7.x86_64\tP:bash\nthis is not a capture line\n")
    code, out, err = wcb(capsys, "resolve", "--cache", tmp_path / "c", "--baseline", capture,
                         "--repo", f"c7-os=http://127.0.0.1:{listener.port}/c7/")
    assert code == EXIT_INPUT, err
    assert f"{capture}:2:" in err and "is not a NEVRA" in err
    assert listener.connections == 0, "the mirror was contacted before the capture was checked"
    assert not (tmp_path / "c" / "repos").exists()


def test_15_nothing_is_announced_before_the_input_errors(tmp_path, capsys):
    for extra in (["--role", "db-nod"], ["--baseline", str(tmp_path / "missing.txt")],
                  ["--repo", "mariadbb=file:///nonexistent/"]):
        code, _, err = wcb(capsys, "resolve", "--cache", tmp_path / "c", *extra)
        assert code == EXIT_INPUT, (extra, err)
        assert err.startswith("Error: "), (extra, err)
        assert "resolving for" not in err


# ---------------------------------------------------------------- 10: --repo id typos

def test_10_a_mistyped_repo_id_is_refused_with_close_ids(tmp_path, capsys, listener):
    code, out, err = wcb(capsys, "resolve", "--cache", tmp_path / "c",
                         "--repo", f"mariadbb=http://127.0.0.1:{listener.port}/m/")
    assert code == EXIT_INPUT, err
    assert "--repo mariadbb: the manifest has no repo 'mariadbb' for EL7" in err
    assert "Did you mean mariadb?" in err
    assert "--adhoc-repo mariadbb=URL" in err
    assert listener.connections == 0


def test_10_an_adhoc_repo_is_taken_as_such(cache, capsys):
    code, out, err = wcb(capsys, "resolve", "--cache", cache, "--adhoc-repo", f"c7={C7.as_uri()}",
                         "--install", "rsync", "--baseline", "none", "--json")
    assert code == 0, err
    lock = json.loads(out)
    assert list(lock["repos"]) == ["c7"] and {p["repo"] for p in lock["packages"]} == {"c7"}


# ---------------------------------------------------------------- 11: network errors in words

def test_11_connection_refused_in_words_for_metadata_packages_and_keys(tmp_path, capsys):
    import requests

    from bundler.assemble.fetch import FetchOptions, fetch_all
    from bundler.assemble.signatures import _read_key
    from bundler.core.neterrors import network_reason
    url = f"http://127.0.0.1:{closed_port()}/c7/"
    code, _, err = wcb(capsys, "resolve", "--cache", tmp_path / "c", "--repo", f"c7-os={url}",
                       "--install", "rsync")
    assert code == EXIT_FETCH
    assert "connection refused: nothing listens on that host and port" in err
    for leak in ("ConnectionRefusedError", "NewConnectionError", "Errno", "ConnectionError"):
        assert leak not in err, err
    with pytest.raises(requests.ConnectionError) as exc:
        requests.get(url, timeout=2)
    assert network_reason(exc.value).startswith("connection refused")
    body = b"x" * 100
    import hashlib
    pkg = {"name": "p", "epoch": 0, "version": "1", "release": "1", "arch": "noarch", "repo": "r",
           "location": "Packages/p.rpm", "url": url + "Packages/p.rpm", "size": len(body),
           "checksum": "sha256:" + hashlib.sha256(body).hexdigest()}
    from bundler.core.errors import FetchError
    with pytest.raises(FetchError) as fexc:
        fetch_all(as_lock(lock_dict([pkg], {"r": {"baseurls": [url]}})), tmp_path / "pc", quiet=True,
                  opts=FetchOptions(tries_per_url=1, backoff=0.01, connect_timeout=2))
    assert "connection refused" in fexc.value.render() and "ConnectionError" not in fexc.value.render()
    with pytest.raises(FetchError) as kexc:
        _read_key(url + "RPM-GPG-KEY")
    assert "connection refused" in kexc.value.render() and "ConnectionError" not in kexc.value.render()


def test_11_host_name_not_found_in_words(monkeypatch):
    """The resolver is the one stand-in (no DNS query may leave this machine): getaddrinfo fails
    as glibc does for an unknown name; requests and urllib3 run for real around it."""
    import requests

    from bundler.core.neterrors import network_reason

    def no_such_name(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)
    with pytest.raises(requests.ConnectionError) as exc:
        requests.get("http://mirror.example.invalid/repodata/repomd.xml", timeout=2)
    reason = network_reason(exc.value)
    assert reason.startswith("host name not found: check the host name in the URL"), reason
    assert "gaierror" not in reason


def test_11_timeouts_and_resets_in_words():
    import requests
    import urllib3

    from bundler.core.neterrors import network_reason
    assert network_reason(requests.ConnectTimeout("x")).startswith("no answer to the connection")
    assert network_reason(requests.ReadTimeout("x")).startswith("read timeout")
    assert network_reason(ConnectionResetError(104, "Connection reset by peer")).startswith("connection reset")
    err = urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104, "reset"))
    assert network_reason(requests.ConnectionError(err)).startswith("connection reset")
    assert "Error" not in network_reason(RuntimeError("odd"))


# ---------------------------------------------------------------- 12: --el

@pytest.mark.parametrize("value", ["6", "10", "centos"])
def test_12_an_unsupported_el_says_which_are_supported(value, capsys):
    code, _, err = wcb(capsys, "resolve", "--el", value)
    assert code == EXIT_USAGE
    assert f"EL '{value}' is not supported" in err and "EL 7, 8 and 9" in err
    assert "is not one of" not in err


def test_12_el_accepts_the_el_prefix(cache, capsys):
    code, out, err = wcb(capsys, "resolve", "--el", "EL7", "--cache", cache, "--repo", f"c7-os={C7.as_uri()}",
                         "--install", "rsync", "--baseline", "none", "--json")
    assert code == 0, err
    assert json.loads(out)["el"] == 7


# ---------------------------------------------------------------- 13: wrong type has a "what to do"

def test_13_a_wrong_type_says_what_to_write(tmp_path, capsys):
    doc = yaml.safe_load((MANIFESTS / "site.example.yaml").read_text())
    doc["vip"]["http-port"] = "80x"
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump(doc, sort_keys=False))
    code, _, err = wcb(capsys, "plan", "--site", site, "--out", tmp_path / "plan")
    assert code == EXIT_INPUT, err
    assert "expected an integer, found the text '80x'" in err
    assert "Write a whole number without quotes" in err
    assert "found str" not in err
    assert not (tmp_path / "plan").exists()


# ---------------------------------------------------------------- 14: why on a package that does not exist

def test_14_why_says_when_a_package_does_not_exist(cache, capsys):
    code, out, err = wcb(capsys, "why", "nosuchpkg", "--cache", cache, "--repo", f"c7-os={C7.as_uri()}",
                         "--install", "rsync")
    assert code == EXIT_RESOLVE and out == ""
    assert "'nosuchpkg' does not exist: no repo of this run (c7-os)" in err


def test_14_why_tells_apart_available_but_unneeded_and_in_the_baseline(cache, capsys):
    code, _, err = wcb(capsys, "why", "zsh", "--cache", cache, "--repo", f"c7-os={C7.as_uri()}",
                       "--install", "rsync", "--baseline", "none")
    assert code == EXIT_RESOLVE
    assert "it exists (zsh-" in err and "in repo c7-os), but nothing the roles request needs it" in err
    code, _, err = wcb(capsys, "why", "bash", "--cache", cache, "--repo", f"c7-os={C7.as_uri()}",
                       "--install", "mariadb-server")
    assert code == EXIT_RESOLVE
    assert "the baseline minimal (@core) already provides it" in err


# ---------------------------------------------------------------- 16: inspect's words

def test_16_inspect_shows_words_not_raw_keys(tmp_path, capsys):
    tar = make_bundle(tmp_path)
    code, out, _ = wcb(capsys, "inspect", tar)
    assert code == 0
    assert "Tool:     wcbundle 0.1.0\n" in out
    assert "Built:    2026-11-26 16:00:00 UTC\n" in out
    labels = [ln.split(":", 1)[0] for ln in out.splitlines() if not ln.startswith("  ")]
    assert not [lb for lb in labels if "_" in lb], labels  # no raw bundle.json key as a label


# ---------------------------------------------------------------- 17: waiting for another process's download

def test_17_a_download_finished_by_another_process_counts_as_cached(tmp_path):
    """Three builds share a cache: every package is counted once per build, as downloaded or
    cached, and the three builds together download each package once."""
    import hashlib
    import http.server

    bodies = {f"/Packages/s{i}.rpm": os.urandom(60_000) for i in range(5)}

    class Slow(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):  # noqa: N802
            body = bodies[self.path]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            threading.Event().wait(0.2)  # slow enough that the other builds wait on the part lock
            self.wfile.write(body)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    base = f"http://127.0.0.1:{srv.server_address[1]}"
    try:
        from bundler.assemble.fetch import FetchOptions, FetchStats, fetch_all
        pkgs = [{"name": Path(p).stem, "epoch": 0, "version": "1", "release": "1", "arch": "noarch", "repo": "r",
                 "location": p.lstrip("/"), "url": base + p, "size": len(b),
                 "checksum": "sha256:" + hashlib.sha256(b).hexdigest()} for p, b in bodies.items()]
        lock = as_lock(lock_dict(pkgs, {"r": {"baseurls": [base]}}))
        stats = [FetchStats() for _ in range(3)]
        errors: list[Exception] = []

        def one(st):
            try:
                fetch_all(lock, tmp_path, jobs=5, quiet=True, opts=FetchOptions(lock_wait=20), stats=st)
            except Exception as exc:  # noqa: BLE001 - asserted below
                errors.append(exc)

        threads = [threading.Thread(target=one, args=(st,)) for st in stats]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        srv.shutdown()
        srv.server_close()
    assert not errors
    for st in stats:
        assert st.downloaded + st.cached == 5, (st.downloaded, st.cached)
    assert sum(st.downloaded for st in stats) == 5
    assert sum(st.cached for st in stats) == 10


def test_9_build_checks_a_local_gpgkey_file_before_any_download(tmp_path, capsys, listener):
    code, _, err = wcb(capsys, "build", "--cache", tmp_path / "c", "--out", tmp_path / "out",
                       "--repo", f"c7-os=http://127.0.0.1:{listener.port}/c7/",
                       "--gpgkey", f"c7-os=file://{tmp_path}/no-such-key")
    assert code == EXIT_INPUT, err
    assert "--gpgkey c7-os:" in err and "no-such-key does not exist" in err
    assert listener.connections == 0 and "Resolving" not in err
