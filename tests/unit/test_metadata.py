"""Metadata: verified against repomd, cached, served over real HTTP on 127.0.0.1, failover, zstd."""

from __future__ import annotations

import functools
import hashlib
import http.server
import shutil
import socket
import sys
import threading
from pathlib import Path

import pytest
import solv

from bundler.core.errors import FetchError
from bundler.core.run import run, which
from bundler.resolve import metadata
from bundler.resolve.metadata import decompress, open_repo, parse_modules

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "realmeta"
C7 = DATA / "centos7.5-dvd-x86_64"
CS9_APP = DATA / "cs9-appstream"


class Server:
    """A threaded static file server that records (path, status) of every request, and the
    client port of each (with keep_alive, HTTP/1.1: a reused connection keeps its port)."""

    def __init__(self, root: Path, keep_alive: bool = False):
        self.log: list[tuple[str, int]] = []
        self.ports: list[int] = []
        log, ports = self.log, self.ports

        class Handler(http.server.SimpleHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"

            def log_request(self, code="-", size="-"):
                log.append((self.path, int(code)))
                ports.append(self.client_address[1])

        handler = functools.partial(Handler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def served(tmp_path):
    root = tmp_path / "www"
    shutil.copytree(C7, root / "c7")
    srv = Server(root)
    yield srv, root / "c7"
    srv.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_file_repo_is_read_in_place_and_verified(tmp_path):
    repo = open_repo("c7", [C7.as_uri()], tmp_path)
    assert repo.revision == "1525380860"
    assert repo.path("primary").parent == C7 / "repodata"  # no copy for file://
    assert repo.checksum("group").startswith("sha256:29b154c3")  # group_gz preferred
    assert b"<id>core</id>" in repo.read("group")
    assert not repo.has("modules")


def test_checksum_mismatch_names_url_expected_and_actual(tmp_path):
    copy = tmp_path / "c7"
    shutil.copytree(C7, copy)
    primary = next((copy / "repodata").glob("*-primary.xml.gz"))
    data = bytearray(primary.read_bytes())
    data[1000] ^= 0xFF
    primary.write_bytes(bytes(data))
    actual = hashlib.sha256(bytes(data)).hexdigest()
    repo = open_repo("c7", [copy.as_uri()], tmp_path / "cache")
    with pytest.raises(FetchError) as err:
        repo.path("primary")
    msg = err.value.render()
    assert primary.name in msg
    assert "sha256:2c50202e3091f8e241627053a3ccda04d31afefb3771b96601428a84ac990090" in msg
    assert f"sha256:{actual}" in msg


def test_http_second_run_fetches_nothing_unchanged(served, tmp_path):
    srv, _ = served
    cache = tmp_path / "cache"
    repo = open_repo("c7", [srv.url + "c7/"], cache, expire=3600)
    repo.path("primary")
    repo.path("filelists")
    first = list(srv.log)
    assert [p for p, _ in first] == ["/c7/repodata/repomd.xml",
                                     "/c7/" + repo.files["primary"].location,
                                     "/c7/" + repo.files["filelists"].location]
    # within metadata-expire: no request at all
    again = open_repo("c7", [srv.url + "c7/"], cache, expire=3600)
    again.path("primary")
    again.path("filelists")
    assert srv.log == first
    # expired: one conditional request for repomd.xml (304), data files come from the cache
    third = open_repo("c7", [srv.url + "c7/"], cache, expire=0)
    third.path("primary")
    assert srv.log[len(first):] == [("/c7/repodata/repomd.xml", 304)]


def test_unreachable_mirror_fails_over_and_all_dead_is_a_fetch_error(served, tmp_path):
    srv, _ = served
    dead = f"http://127.0.0.1:{closed_port()}/c7/"
    repo = open_repo("c7", [dead, srv.url + "c7/"], tmp_path / "a")
    assert repo.baseurl == srv.url + "c7/"
    repo.path("primary")
    with pytest.raises(FetchError) as err:
        open_repo("c7", [dead], tmp_path / "b")
    assert dead + "repodata/repomd.xml" in err.value.render()
    assert "connection refused: nothing listens on that host and port" in err.value.render()


def test_404_is_not_retried_and_500_is_retried_a_bounded_number_of_times(served, tmp_path):
    srv, _ = served
    with pytest.raises(FetchError) as err:
        open_repo("c7", [srv.url + "nosuch/"], tmp_path / "a")
    assert f"{srv.url}nosuch/repodata/repomd.xml: HTTP 404" in err.value.render()
    assert srv.log == [("/nosuch/repodata/repomd.xml", 404)]

    hits: list[str] = []

    class Failing(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            hits.append(self.path)
            self.send_error(503)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Failing)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        with pytest.raises(FetchError, match="HTTP 503"):
            open_repo("c7", [f"http://127.0.0.1:{httpd.server_address[1]}/"], tmp_path / "b")
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert len(hits) == metadata.ATTEMPTS


def test_the_files_of_one_resolve_share_one_connection(tmp_path):
    root = tmp_path / "www"
    shutil.copytree(C7, root / "c7")
    srv = Server(root, keep_alive=True)
    try:
        repo = open_repo("c7", [srv.url + "c7/"], tmp_path / "cache")
        for mdtype in ("primary", "filelists", "group"):
            repo.path(mdtype)
        metadata.close_session()
    finally:
        srv.close()
    assert len(srv.log) == 4 and all(status == 200 for _, status in srv.log)
    assert len(set(srv.ports)) == 1, srv.ports  # one TCP connection for repomd.xml and the three files


def imports_requests(*argv: str) -> bool:
    """Run `python -X importtime -m bundler ARGV` (it must succeed); did it import requests?"""
    proc = run([sys.executable, "-X", "importtime", "-m", "bundler", "-q", *argv], cwd=str(ROOT))
    return any(line.rsplit("|", 1)[-1].strip() == "requests" for line in proc.stderr.splitlines())


def test_requests_is_imported_only_when_metadata_crosses_the_network(served, tmp_path):
    srv, _ = served
    args = ["resolve", "--baseline", "none", "--install", "mariadb-server", "--json"]
    http_repo = ["--cache", str(tmp_path / "http"), "--adhoc-repo", f"c7={srv.url}c7/"]
    assert imports_requests(*args, *http_repo)            # cold: repomd.xml and primary over http
    assert not imports_requests(*args, *http_repo)        # warm: everything from the cache
    assert not imports_requests(*args, "--cache", str(tmp_path / "file"), "--adhoc-repo", f"c7={C7.as_uri()}")


def test_corrupt_data_file_on_one_mirror_uses_the_next(served, tmp_path):
    srv, c7 = served
    bad = c7.parent / "bad"
    shutil.copytree(c7, bad)
    primary = next((bad / "repodata").glob("*-primary.xml.gz"))
    primary.write_bytes(primary.read_bytes()[:-100])  # truncated
    repo = open_repo("c7", [srv.url + "bad/", srv.url + "c7/"], tmp_path / "cache")
    assert repo.baseurl == srv.url + "bad/"
    path = repo.path("primary")
    assert repo.baseurl == srv.url + "c7/"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == repo.files["primary"].checksum
    with pytest.raises(FetchError, match=r"from any mirror: checksum mismatch.*the file has sha256:"):
        open_repo("c7", [srv.url + "bad/"], tmp_path / "other").path("primary")


def test_a_mirror_with_a_bad_repomd_is_dropped_as_a_whole(served, tmp_path):
    """Mirror A's repomd.xml lists other checksums: B's files must be checked against B's repomd."""
    srv, c7 = served
    bad = c7.parent / "bad"
    shutil.copytree(c7, bad)
    repomd = bad / "repodata" / "repomd.xml"
    real = "2c50202e3091f8e241627053a3ccda04d31afefb3771b96601428a84ac990090"
    repomd.write_text(repomd.read_text().replace(f">{real}<", ">" + "0" * 64 + "<"))
    repo = open_repo("c7", [srv.url + "bad/", srv.url + "c7/"], tmp_path / "cache")
    assert repo.checksum("primary") == "sha256:" + "0" * 64
    path = repo.path("primary")
    assert repo.baseurl == srv.url + "c7/" and repo.checksum("primary") == "sha256:" + real
    assert hashlib.sha256(path.read_bytes()).hexdigest() == real
    assert ("/c7/repodata/repomd.xml", 200) in srv.log


def test_garbage_repomd_on_first_mirror_uses_the_next(tmp_path):
    bad = tmp_path / "bad"
    (bad / "repodata").mkdir(parents=True)
    (bad / "repodata" / "repomd.xml").write_text("<html>proxy error</html>")
    repo = open_repo("c7", [bad.as_uri(), C7.as_uri()], tmp_path / "cache")
    assert repo.baseurl == C7.as_uri() and repo.revision == "1525380860"


def test_not_a_repo_is_a_fetch_error(tmp_path):
    (tmp_path / "repodata").mkdir()
    (tmp_path / "repodata" / "repomd.xml").write_text("<html>hello</html>")
    with pytest.raises(FetchError, match="is not a repomd.xml"):
        open_repo("x", [tmp_path.as_uri()], tmp_path / "cache")


@pytest.mark.parametrize("ext,compress", [
    ("zst", ["zstd", "-q", "-k"]),
    ("xz", ["xz", "-k"]),
    ("bz2", ["bzip2", "-k"]),
])
def test_compressed_metadata_is_readable_by_libsolv(tmp_path, ext, compress):
    """libsolv's xfopen in the solv wheel reads gzip only: the rest is decompressed for it."""
    from bundler.core.run import run
    which(compress[0])
    repodata = tmp_path / "z" / "repodata"
    repodata.mkdir(parents=True)
    plain = decompress(next((C7 / "repodata").glob("*-primary.xml.gz")))
    base = repodata / "primary.xml"
    base.write_bytes(plain)
    run(compress + [str(base)])  # writes primary.xml.<ext> next to it
    base.unlink()
    packed = repodata / f"primary.xml.{ext}"
    digest = hashlib.sha256(packed.read_bytes()).hexdigest()
    (repodata / "repomd.xml").write_text(
        '<?xml version="1.0"?><repomd xmlns="http://linux.duke.edu/metadata/repo">'
        f'<data type="primary"><checksum type="sha256">{digest}</checksum>'
        f'<location href="repodata/primary.xml.{ext}"/></data></repomd>')
    repo = open_repo("z", [(tmp_path / "z").as_uri()], tmp_path / "cache")
    assert repo.read("primary") == plain
    pool = solv.Pool()
    r = pool.add_repo("z")
    fp = solv.xfopen(str(repo.solv_path("primary")))
    assert fp is not None and r.add_rpmmd(fp, None, 0)
    fp.close()
    assert r.nsolvables == 3971


def test_modules_yaml_keeps_streams_as_text_and_documents_verbatim():
    repo_md = next((CS9_APP / "repodata").glob("*-modules.yaml.xz"))
    index = parse_modules(decompress(repo_md), "cs9")
    maria = [d for d in index.docs if d.name == "mariadb"]
    assert maria and {d.stream for d in maria} == {"10.11"}  # not the float 10.11 -> "10.11" by luck
    assert all(a.endswith((".x86_64", ".noarch", ".src")) for d in maria for a in d.artifacts)
    assert any(a.startswith("mariadb-server-3:10.11") for a in maria[0].artifacts)
    assert maria[0].text.startswith("---\ndocument: modulemd\n") and maria[0].text.endswith("\n...\n")
    nodejs = [d for d in index.docs if d.name == "nodejs"]
    assert nodejs and all(d.stream for d in nodejs)


def test_streams_like_10_10_are_not_floats():
    text = b"---\ndocument: modulemd\nversion: 2\ndata:\n  name: x\n  stream: 10.10\n  version: 1\n...\n" \
           b"---\ndocument: modulemd-defaults\nversion: 1\ndata:\n  module: x\n  stream: 10.10\n...\n"
    index = parse_modules(text, "t")
    assert index.docs[0].stream == "10.10"
    assert index.defaults == {"x": "10.10"}


def test_a_body_longer_than_repomd_says_is_cut_off_and_nothing_is_kept(tmp_path):
    """An endless or wrong body must not fill the cache: repomd.xml's <size> bounds the transfer."""
    from bundler.core.errors import FetchError
    from bundler.resolve.metadata import DataFile, download

    root = tmp_path / "www"
    root.mkdir()
    body = b"x" * 5000
    (root / "f.xml").write_bytes(body)
    digest = hashlib.sha256(body).hexdigest()
    srv = Server(root)
    try:
        dest = tmp_path / "cache" / "f.xml"
        with pytest.raises(FetchError, match="more than the 4000 bytes"):
            download(DataFile("primary", "f.xml", "sha256", digest, size=4000), srv.url + "f.xml", dest)
        assert not dest.exists() and list(dest.parent.iterdir()) == []
        download(DataFile("primary", "f.xml", "sha256", digest, size=5000), srv.url + "f.xml", dest)
        assert dest.read_bytes() == body
    finally:
        srv.close()


# -- a hostile mirror (issue 10, point 7): no mirror text reaches outside the cache or the repo root --

PRIMARY_SHA = "2c50202e3091f8e241627053a3ccda04d31afefb3771b96601428a84ac990090"


def _hostile_copy(root: Path, old: str, new: str) -> Path:
    """A copy of the C7 repo whose repomd.xml has `old` replaced by `new`."""
    repo = root / "c7"
    shutil.copytree(C7, repo)
    md = repo / "repodata" / "repomd.xml"
    text = md.read_text()
    assert old in text
    md.write_text(text.replace(old, new))
    return repo


def test_a_checksum_that_is_a_path_never_names_a_cache_file(tmp_path):
    """repomd.xml's checksum text became a cache file name: '../../../victim' made the builder
    check, delete and rewrite tmp/victim-primary.xml.gz, outside the cache."""
    www = tmp_path / "www"
    www.mkdir()
    _hostile_copy(www, f"<checksum type=\"sha256\">{PRIMARY_SHA}</checksum>",
                  "<checksum type=\"sha256\">../../../victim</checksum>")
    victim = tmp_path / "victim-primary.xml.gz"
    victim.write_bytes(b"the builder's own file")
    srv = Server(www)
    try:
        cache = tmp_path / "cache"
        with pytest.raises(FetchError) as err:
            open_repo("c7", [srv.url + "c7/"], cache).path("primary")
    finally:
        srv.close()
    assert "is not 64 lower-case hex digits" in err.value.render()
    assert victim.read_bytes() == b"the builder's own file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "victim-primary.xml.gz", "www"]
    assert not [p for p in cache.rglob("*") if "primary" in p.name]


@pytest.mark.parametrize("algo,value,ok", [
    ("sha256", "A" * 64, False), ("sha256", "a" * 63, False), ("sha256", "a" * 64 + "\n", True),
    ("sha512", "a" * 64, False), ("sha1", "a" * 40, True), ("sha", "a" * 40, True), ("crc32", "a" * 8, False),
    ("sha256", "a" * 62 + "/.", False)])
def test_checksums_are_validated_by_type(algo, value, ok):
    xml = (b'<repomd xmlns="http://linux.duke.edu/metadata/repo"><data type="primary">'
           b'<checksum type="%s">%s</checksum><location href="repodata/p.xml.gz"/></data></repomd>'
           % (algo.encode(), value.encode()))
    if ok:
        assert metadata.parse_repomd(xml, "u")[1]["primary"].checksum == value.strip()
    else:
        with pytest.raises(FetchError):
            metadata.parse_repomd(xml, "u")


def test_a_type_name_that_is_a_path_is_refused():
    xml = (b'<repomd xmlns="http://linux.duke.edu/metadata/repo"><data type="primary">'
           b'<checksum type="sha256">' + b"a" * 64 + b'</checksum><location href="repodata/p.xml.gz"/></data>'
           b'<data type="x/../../y"><checksum type="sha256">' + b"a" * 64 + b'</checksum>'
           b'<location href="repodata/y.xml.gz"/></data></repomd>')
    with pytest.raises(FetchError, match="type name"):
        metadata.parse_repomd(xml, "u")


def test_a_file_repo_href_outside_the_repo_is_refused(tmp_path):
    """A file:// repo's '../' href was opened outside the repo (any file whose digest it states)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    src = next((C7 / "repodata").glob("*-primary.xml.gz"))
    shutil.copy(src, outside / "primary.xml.gz")
    repo = _hostile_copy(tmp_path, f'href="repodata/{src.name}"', 'href="../outside/primary.xml.gz"')
    (repo / "repodata" / src.name).unlink()
    with pytest.raises(FetchError) as err:
        open_repo("c7", [repo.as_uri()], tmp_path / "cache").path("primary")
    assert "leaves the repository" in err.value.render()


def test_a_file_repo_symlink_outside_the_repo_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    src = next((C7 / "repodata").glob("*-primary.xml.gz"))
    shutil.copy(src, outside / src.name)
    repo = tmp_path / "c7"
    shutil.copytree(C7, repo)
    (repo / "repodata" / src.name).unlink()
    (repo / "repodata" / src.name).symlink_to(outside / src.name)
    with pytest.raises(FetchError) as err:
        open_repo("c7", [repo.as_uri()], tmp_path / "cache").path("primary")
    assert "outside the repo root" in err.value.render()


@pytest.mark.parametrize("href", ["../secret.xml.gz", "repodata/../../secret.xml.gz", "%2e%2e/secret.xml.gz",
                                  "repodata/%252e%252e/%252e%252e/secret.xml.gz", "/secret.xml.gz",
                                  "http://127.0.0.2/secret.xml.gz", "repodata\\..\\..\\secret.xml.gz"])
def test_an_http_href_outside_the_repo_root_is_never_requested(tmp_path, href):
    www = tmp_path / "www"
    www.mkdir()
    src = next((C7 / "repodata").glob("*-primary.xml.gz"))
    shutil.copy(src, www / "secret.xml.gz")
    _hostile_copy(www, f'href="repodata/{src.name}"', f'href="{href}"')
    srv = Server(www)
    try:
        with pytest.raises(FetchError):
            open_repo("c7", [srv.url + "c7/"], tmp_path / "cache").path("primary")
    finally:
        srv.close()
    assert all(path.startswith("/c7/") for path, _ in srv.log), srv.log


@pytest.mark.parametrize("href,ok", [("Packages/a.rpm", True), ("a.rpm", True), ("../a.rpm", False),
                                     ("Packages/../../a.rpm", False), ("/etc/passwd", False),
                                     ("file:///etc/passwd", False), ("Packages/%2E%2E/%2e%2e/a.rpm", False),
                                     ("Packages//a.rpm", False), ("a.rpm?x=1", False)])
def test_package_hrefs_are_confined_to_the_repo(href, ok):
    if ok:
        assert metadata.join_url("http://127.0.0.1/r/", href) == "http://127.0.0.1/r/" + href
    else:
        with pytest.raises(FetchError, match="refusing the href"):
            metadata.join_url("http://127.0.0.1/r/", href)
