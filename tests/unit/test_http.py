"""bundler.core.http: the one transport. Its proxy policy (the standard proxy environment
variables, for metadata, packages and keys alike) proven through a real forwarding proxy on
127.0.0.1, and its bounded retries against a real server."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from bundler.assemble import signatures as gpg
from bundler.assemble.fetch import FetchOptions, fetch_all
from bundler.core import http
from bundler.resolve.metadata import close_session, open_repo
from tests.support.http import ForwardProxy, serve
from tests.support.locks import as_lock, lock_dict, package

ROOT = Path(__file__).resolve().parents[2]
C7 = ROOT / "tests" / "data" / "realmeta" / "centos7.5-dvd-x86_64"
NOWHERE = "http://repo.wcbundle.invalid"   # never resolves: only the proxy can reach it
BODY = b"not really an rpm, but its sha256 is what the lock says" * 100
KEY = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nxx\n-----END PGP PUBLIC KEY BLOCK-----\n"


@pytest.fixture
def upstream(tmp_path):
    root = tmp_path / "www"
    shutil.copytree(C7, root / "c7")
    (root / "pkgs" / "Packages").mkdir(parents=True)
    (root / "pkgs" / "Packages" / "a-1-1.noarch.rpm").write_bytes(BODY)
    (root / "keys").mkdir()
    (root / "keys" / "RPM-GPG-KEY-test").write_text(KEY)
    with serve(root) as mirror:
        yield mirror


@pytest.fixture
def proxied(upstream, monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
                "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
    with ForwardProxy(upstream.url) as proxy:
        monkeypatch.setenv("http_proxy", proxy.url)
        yield proxy


def _lock(base: str):
    pkg = package("a", BODY, repo="r", location="Packages/a-1-1.noarch.rpm")
    return as_lock(lock_dict([pkg], {"r": {"baseurls": [base + "/pkgs/"], "gpgkeys": []}}))


def test_metadata_goes_through_the_proxy(proxied, tmp_path):
    try:
        repo = open_repo("c7", [f"{NOWHERE}/c7/"], tmp_path / "cache")
        assert repo.path("primary").is_file()
    finally:
        close_session()
    assert f"{NOWHERE}/c7/repodata/repomd.xml" in proxied.log
    assert any(u.startswith(f"{NOWHERE}/c7/repodata/") and "primary" in u for u in proxied.log)


def test_packages_go_through_the_proxy(proxied, tmp_path):
    got = fetch_all(_lock(NOWHERE), tmp_path / "cache", jobs=1, quiet=True,
                    opts=FetchOptions(tries_per_url=1, connect_timeout=5, read_timeout=5))
    assert next(iter(got.values())).read_bytes() == BODY
    assert proxied.log == [f"{NOWHERE}/pkgs/Packages/a-1-1.noarch.rpm"]


def test_keys_go_through_the_proxy(proxied):
    assert gpg._read_key(f"{NOWHERE}/keys/RPM-GPG-KEY-test") == KEY
    assert proxied.log == [f"{NOWHERE}/keys/RPM-GPG-KEY-test"]


def test_no_proxy_is_honoured(proxied, upstream, monkeypatch, tmp_path):
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    got = fetch_all(_lock(upstream.url), tmp_path / "cache", jobs=1, quiet=True)
    assert next(iter(got.values())).read_bytes() == BODY
    assert gpg._read_key(upstream.url + "/keys/RPM-GPG-KEY-test") == KEY
    assert proxied.log == []


def test_without_proxy_variables_nothing_is_proxied(upstream, monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    assert http.proxies_for(upstream.url) == {}
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    assert http.proxies_for("http://mirror.example/x")["http"] == "http://127.0.0.1:9"


def test_get_retries_are_bounded(upstream):
    """A 503 is retried `attempts` times with a pause between; a 404 is not retried."""
    upstream.set_fault("*/flaky", "500")
    with http.Session() as s:
        start = time.monotonic()
        resp, outcomes = http.get(s, upstream.url + "/flaky", attempts=3, timeout=(2, 2), pause=0.05)
        assert resp is None and outcomes == ["HTTP 500"] * 3
        assert time.monotonic() - start < 5
        resp, outcomes = http.get(s, upstream.url + "/missing", attempts=3, timeout=(2, 2), pause=0.05)
        assert resp is None and outcomes == ["HTTP 404"]


def test_copy_capped_stops_at_the_cap(upstream, tmp_path):
    import io
    with http.Session() as s:
        resp, _ = http.get(s, upstream.url + "/pkgs/Packages/a-1-1.noarch.rpm", attempts=1, timeout=(2, 2))
        with pytest.raises(http.TooLarge):
            http.copy_capped(resp, io.BytesIO(), 100)
        resp.close()
