"""Repository metadata: repomd.xml and the files it lists, fetched, verified, cached.

`open_repo()` reads repomd.xml from the first base URL that answers (http(s)
through bundler.core.http, imported only when a network fetch is really needed, so a
warm run and file:// repos never load it; file:// read in place, no round
trip). One bundler.core.http.Session serves every http(s) GET until `close_session()`
(resolve() calls it at its end), so the files of one resolve share connections. Every data file (primary, filelists,
modules, group) is checked against repomd's checksum before use; a mismatch
is a FetchError naming the URL, the expected and the actual digest.

Cache layout under <cache>/metadata/<repo id>-<hash of base URLs>/:
  repomd.xml, repomd.json (etag, last-modified, fetch time, URL that answered),
  <checksum>-<type>.<ext> for each data file (content-addressed, so a second
  run downloads nothing that did not change).
No text of a mirror is trusted: `parse_repomd()` accepts a checksum only as hex
of the right length for its type and a type name only as [A-Za-z0-9_-], so a
cache file name is built from validated parts only; `join_url()` refuses an
href that leaves the repo root ('..', an absolute path or another URL), and a
file:// path is resolved (symlinks too) and must stay under the repo root.
An http(s) repomd.xml younger than the manifest's metadata-expire is reused
without asking the server (dnf's metadata_expire); older ones are revalidated
with If-None-Match / If-Modified-Since.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from ..core.errors import EnvironmentProblem, FetchError
from ..core.fileutil import atomic_write, hash_file
from ..core.neterrors import network_reason

log = logging.getLogger("wcbundle")

REPO_NS = "{http://linux.duke.edu/metadata/repo}"
ATTEMPTS = 3            # per URL, for transient errors
TIMEOUT = 30            # seconds, per connect and per read
RETRY_WINDOW = 90       # seconds: no new attempt on a URL starts later than this after its first
USER_AGENT = "wcbundle"
# comps comes in several flavours; the first present one is used
GROUP_TYPES = ("group_gz", "group_xz", "group_zst", "group")


@dataclass
class DataFile:
    type: str
    location: str
    checksum_type: str
    checksum: str
    size: int | None = None


@dataclass
class RepoMetadata:
    """One repository's repomd, and on-demand access to its verified data files."""

    id: str
    baseurls: list[str]
    baseurl: str                  # the one that answered
    cache: Path
    revision: str
    files: dict[str, DataFile] = field(default_factory=dict)
    tried: list[str] = field(default_factory=list)   # mirrors given up on
    verify: Callable[[str, bytes], None] | None = None   # repo_gpgcheck: check_repomd_signature

    def has(self, mdtype: str) -> bool:
        return self._resolve_type(mdtype) is not None

    def _resolve_type(self, mdtype: str) -> DataFile | None:
        if mdtype == "group":
            return next((self.files[t] for t in GROUP_TYPES if t in self.files), None)
        return self.files.get(mdtype)

    def checksum(self, mdtype: str) -> str:
        df = self._resolve_type(mdtype)
        return f"{df.checksum_type}:{df.checksum}" if df else "-"

    def path(self, mdtype: str) -> Path:
        """Local, verified copy of a data file (compressed as published).

        A mirror whose file is missing or fails its checksum is dropped as a whole:
        the next mirror's repomd.xml and files are used together, never one mirror's
        files against another mirror's repomd.
        """
        errors: list[str] = []
        while True:
            try:
                return self._path_here(mdtype)
            except FetchError as exc:
                errors.append(exc.message)
            if not self._next_mirror(errors):
                raise FetchError(f"cannot get the {mdtype} metadata of repo '{self.id}' from any mirror: "
                                 + " ".join(e.rstrip(".") + "." for e in errors),
                                 hint="The mirrors are unreachable or inconsistent; re-sync them or point "
                                      "--repo at another mirror.")

    def _next_mirror(self, errors: list[str]) -> bool:
        self.tried.append(self.baseurl)
        for base in self.baseurls:
            if base in self.tried:
                continue
            self.tried.append(base)
            url = join_url(base, "repodata/repomd.xml")
            data = _read_repomd(url, self.cache, 0, True, errors)
            if data is None:
                continue
            try:
                self.revision, self.files = parse_repomd(data, url)
                if self.verify is not None:
                    self.verify(base, data)
            except FetchError as exc:
                errors.append(exc.message)
                continue
            log.info("repo %s: using mirror %s", self.id, base)
            self.baseurl = base
            return True
        return False

    def _path_here(self, mdtype: str) -> Path:
        df = self._resolve_type(mdtype)
        if df is None:
            raise FetchError(f"repo '{self.id}' ({self.baseurl}) publishes no '{mdtype}' metadata.")
        url = join_url(self.baseurl, df.location)
        if url.startswith("file://"):
            local = confined_file(self.baseurl, url)
            if not local.is_file():
                raise FetchError(f"metadata file {url} listed in repomd.xml of repo '{self.id}' does not exist.")
            verify_file(local, df, url)
            return local
        dest = self.cache / f"{df.checksum}-{df.type}{compression_suffix(df.location)}"
        if dest.is_file():
            try:
                verify_file(dest, df, str(dest))
                return dest
            except FetchError:
                log.info("cached %s of repo %s is corrupt; fetching it again", df.type, self.id)
                dest.unlink()
        download(df, url, dest)
        return dest

    def solv_path(self, mdtype: str) -> Path:
        """A file libsolv's xfopen can read. The solv wheel reads plain and gzip files only
        (xfopen returns None for xz, bz2 and zstd), so those are decompressed into the cache."""
        path = self.path(mdtype)
        if path.suffix not in (".xz", ".bz2", ".zst"):
            return path
        plain = self.cache / f"{self._resolve_type(mdtype).checksum}-{mdtype}.plain"
        if plain.is_file():
            return plain
        tmp = plain.with_name(plain.name + f".{os.getpid()}.part")
        try:
            self.cache.mkdir(parents=True, exist_ok=True)
            if path.suffix == ".zst":
                from ..core.run import run
                run(["zstd", "-q", "-d", "-f", "-o", str(tmp), str(path)])
            else:
                import shutil
                opener = _lzma_open if path.suffix == ".xz" else _bz2_open
                with opener(path) as src, open(tmp, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
            os.replace(tmp, plain)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            if isinstance(exc, FileNotFoundError) or exc.errno in (28, 122):
                raise cache_problem(plain, exc) from None
            raise FetchError(f"cannot decompress {path}: {exc}") from None
        except Exception as exc:
            tmp.unlink(missing_ok=True)
            if isinstance(exc, (EOFError, ValueError)):
                raise FetchError(f"cannot decompress {path}: {exc}") from None
            raise
        return plain

    def read(self, mdtype: str) -> bytes:
        """Decompressed contents of a data file (modules, comps)."""
        return decompress(self.path(mdtype))


def cache_problem(path: Path, exc: OSError | None = None) -> EnvironmentProblem:
    """A cache write failed: say where, and whether the disk is full."""
    import errno
    import shutil
    full = exc is not None and exc.errno == errno.ENOSPC
    if exc is None:  # libsolv does not tell why; a nearly empty disk is the usual reason
        try:
            full = shutil.disk_usage(Path(path).parent).free < (1 << 20)
        except OSError:
            full = False
    if full:
        return EnvironmentProblem(f"no space left on the device holding the cache ({path}).",
                                  hint="Free some space, or point --cache at a bigger disk.")
    why = f": {exc.strerror}" if exc is not None and exc.strerror else ""
    return EnvironmentProblem(f"cannot write the cache file {path}{why}.",
                              hint="Check the permissions of the --cache directory, or point --cache elsewhere.")


def cache_write(path: Path, data: bytes) -> None:
    """fileutil.atomic_write with a cache-worded error (disk full, unwritable --cache)."""
    atomic_write(path, data, on_error=cache_problem)


# hex digest length per repomd checksum type (createrepo_c names; "sha" is sha1)
DIGEST_HEX = {"md5": 32, "sha": 40, "sha1": 40, "sha224": 56, "sha256": 64, "sha384": 96, "sha512": 128}
_MDTYPE = re.compile(r"[A-Za-z0-9_-]{1,64}")


def join_url(base: str, location: str) -> str:
    """base + href, refusing an href that could leave the repo root (FetchError).

    An href is mirror text: it must be a relative path without '..' (also %-encoded),
    backslashes, control characters, a query or another URL scheme."""
    if not confined_href(location):
        raise FetchError(f"refusing the href '{location[:200]}' of {base}: it is not a plain relative path "
                         "inside the repository (absolute, '..', a URL, or control characters).",
                         hint="The mirror's metadata is hostile or broken; use another mirror.")
    return base.rstrip("/") + "/" + location


def confined_href(location: str) -> bool:
    """True for a plain relative path inside a repo (each segment checked after %-decoding)."""
    if not location or len(location) > 4096 or location.startswith("/"):
        return False
    decoded = unquote(unquote(location))
    if any(c in decoded for c in "\\?#") or any(ord(c) < 32 or ord(c) == 127 for c in decoded):
        return False
    if ":" in decoded.split("/", 1)[0]:  # scheme: or a drive letter
        return False
    return not any(seg in ("..", ".", "") for seg in decoded.split("/"))


def confined_file(base: str, url: str) -> Path:
    """The local path of a file:// url, resolved (symlinks included) and inside base's root."""
    root = file_url_path(base).resolve()
    local = file_url_path(url).resolve()
    if local != root and root not in local.parents:
        raise FetchError(f"refusing {url}: it resolves to {local}, outside the repo root {root}.",
                         hint="A symlink or href in the repository points outside it; fix the repository.")
    return local


def file_url_path(url: str) -> Path:
    return Path(unquote(urlparse(url).path))


def compression_suffix(location: str) -> str:
    for ext in (".gz", ".xz", ".bz2", ".zst"):
        if location.endswith(ext):
            return Path(location[: -len(ext)]).suffix + ext
    return Path(location).suffix


def _lzma_open(path: Path):
    import lzma
    return lzma.open(path)


def _bz2_open(path: Path):
    import bz2
    return bz2.open(path)


def decompress(path: Path) -> bytes:
    name = path.name
    data = path.read_bytes()
    try:
        if name.endswith(".gz"):
            import gzip
            return gzip.decompress(data)
        if name.endswith(".xz"):
            import lzma
            return lzma.decompress(data)
        if name.endswith(".bz2"):
            import bz2
            return bz2.decompress(data)
    except (OSError, EOFError, ValueError) as exc:
        raise FetchError(f"cannot decompress {path}: {exc}") from None
    if name.endswith(".zst"):
        from ..core.run import run
        proc = run(["zstd", "-q", "-d", "-c", str(path)], capture=True)
        return proc.stdout.encode("utf-8")
    return data


def digest(path: Path, algo: str) -> str:
    algo = {"sha": "sha1"}.get(algo, algo)
    try:
        hashlib.new(algo)
    except ValueError:
        raise FetchError(f"unknown checksum type '{algo}' in repomd.xml for {path}") from None
    return hash_file(path, algo)


def verify_file(path: Path, df: DataFile, where: str) -> None:
    actual = digest(path, df.checksum_type)
    if actual != df.checksum:
        raise FetchError(
            f"checksum mismatch for {df.type} metadata {where}: repomd.xml says "
            f"{df.checksum_type}:{df.checksum}, the file has {df.checksum_type}:{actual}.",
            hint="The mirror is inconsistent or the file was altered; try another mirror or re-sync it.")


def parse_repomd(data: bytes, url: str) -> tuple[str, dict[str, DataFile]]:
    import xml.etree.ElementTree as ET
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise FetchError(f"{url} is not a valid repomd.xml ({exc}).",
                         hint="Check that the URL points at a yum/dnf repository root.") from None
    if root.tag != REPO_NS + "repomd":
        raise FetchError(f"{url} is not a repomd.xml (root element <{root.tag}>).",
                         hint="Check that the URL points at a yum/dnf repository root.")
    files = {}
    for node in root.findall(REPO_NS + "data"):
        mdtype = node.get("type", "")
        cks = node.find(REPO_NS + "checksum")
        loc = node.find(REPO_NS + "location")
        size = node.find(REPO_NS + "size")
        if cks is None or loc is None or not loc.get("href"):
            raise FetchError(f"{url}: <data type='{mdtype[:64]}'> lacks a checksum or location.")
        algo, value = cks.get("type", "sha256"), (cks.text or "").strip()
        files[mdtype] = DataFile(mdtype, loc.get("href"), algo, value,
                                 int(size.text) if size is not None and (size.text or "").isdigit() else None)
        _check_data(files[mdtype], url)
    rev = root.find(REPO_NS + "revision")
    if "primary" not in files:
        raise FetchError(f"{url} lists no primary metadata.")
    return (rev.text or "") if rev is not None else "", files


def _check_data(df: DataFile, url: str) -> None:
    """Mirror text used in names and paths: a safe type name, a checksum of the right shape, a confined href."""
    if not _MDTYPE.fullmatch(df.type):
        raise FetchError(f"{url}: refusing <data type='{df.type[:64]}'>: a type name is letters, digits, '_', '-'.",
                         hint="The mirror's repomd.xml is hostile or broken; use another mirror.")
    want = DIGEST_HEX.get(df.checksum_type)
    if want is None:
        raise FetchError(f"{url}: <data type='{df.type}'> has an unknown checksum type "
                         f"'{df.checksum_type[:32]}' (known: {', '.join(sorted(DIGEST_HEX))}).",
                         hint="The mirror's repomd.xml is hostile or broken; use another mirror.")
    if len(df.checksum) != want or not re.fullmatch(r"[0-9a-f]+", df.checksum):
        raise FetchError(f"{url}: <data type='{df.type}'> checksum '{df.checksum[:140]}' is not {want} lower-case "
                         f"hex digits, as a {df.checksum_type} digest is.",
                         hint="The mirror's repomd.xml is hostile or broken; use another mirror.")
    if not confined_href(df.location):
        raise FetchError(f"{url}: <data type='{df.type}'> href '{df.location[:200]}' leaves the repository "
                         "(absolute, '..', a URL, or control characters).",
                         hint="The mirror's repomd.xml is hostile or broken; use another mirror.")


def repo_cache_dir(cache_dir: Path, repo_id: str, baseurls: list[str]) -> Path:
    key = hashlib.sha256("\n".join(baseurls).encode()).hexdigest()[:12]
    return Path(cache_dir) / "metadata" / f"{repo_id}-{key}"


def open_repo(repo_id: str, baseurls: list[str], cache_dir: Path, *, expire: int = 21600,
              refresh: bool = False, verify: Callable[[str, bytes], None] | None = None) -> RepoMetadata:
    """Read (or revalidate) a repo's repomd.xml, trying each base URL in turn.

    `verify(base, data)`, when given (repo_gpgcheck), checks repomd.xml's signature; a mirror
    whose signature fails (FetchError) is dropped like one that does not answer."""
    cache = repo_cache_dir(cache_dir, repo_id, baseurls)
    errors: list[str] = []
    tried: list[str] = []
    for base in baseurls:
        url = join_url(base, "repodata/repomd.xml")
        data = _read_repomd(url, cache, expire, refresh, errors)
        if data is None:
            tried.append(base)
            continue
        try:
            revision, files = parse_repomd(data, url)
            if verify is not None:
                verify(base, data)
        except FetchError as exc:
            errors.append(exc.message)
            tried.append(base)
            continue
        return RepoMetadata(repo_id, list(baseurls), base, cache, revision, files, tried=tried, verify=verify)
    raise FetchError(f"cannot read the metadata of repo '{repo_id}': " + "; ".join(errors) + ".",
                     hint="Check the URL (--repo ID=URL) and that the mirror is reachable from this host.")


def _read_repomd(url: str, cache: Path, expire: int, refresh: bool, errors: list[str]) -> bytes | None:
    if url.startswith("file://"):
        try:
            return confined_file(url.rsplit("/repodata/", 1)[0] + "/", url).read_bytes()
        except FetchError as exc:
            errors.append(exc.message)
            return None
        except OSError as exc:
            errors.append(f"{url}: {exc.strerror}")
            return None
    return _http_repomd(url, cache, expire, refresh, errors)


def _http_repomd(url: str, cache: Path, expire: int, refresh: bool, errors: list[str]) -> bytes | None:
    meta_path, xml_path = cache / "repomd.json", cache / "repomd.xml"
    meta: dict = {}
    if meta_path.is_file() and xml_path.is_file():
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            meta = {}
        if meta.get("url") == url and not refresh and time.time() - meta.get("fetched", 0) < expire:
            return xml_path.read_bytes()
    headers = {}
    known = meta.get("url") == url and xml_path.is_file()
    if known:
        if meta.get("etag"):
            headers["If-None-Match"] = meta["etag"]
        if meta.get("last_modified"):
            headers["If-Modified-Since"] = meta["last_modified"]
    got = _get(url, errors, headers=headers)
    if got is None:
        return None
    resp, status = got
    try:
        data = xml_path.read_bytes() if status == 304 else resp.content
    except OSError as exc:  # requests' exceptions are OSErrors too
        errors.append(f"{url}: {network_reason(exc)}")
        return None
    finally:
        resp.close()
    if status != 304:
        cache_write(xml_path, data)
    # a 304 need not repeat the validators: keep the ones the 200 gave
    old = meta if status == 304 else {}
    meta = {"url": url, "fetched": time.time(),
            "etag": resp.headers.get("ETag") or old.get("etag"),
            "last_modified": resp.headers.get("Last-Modified") or old.get("last_modified")}
    cache_write(meta_path, json.dumps(meta).encode())
    return data


_SESSION = None  # the requests.Session of the current resolve (created on the first http(s) GET)


def _session():
    """The shared Session (bundler.core.http), created on first use: requests is imported here and nowhere earlier."""
    global _SESSION
    if _SESSION is None:
        from ..core.http import Session
        _SESSION = Session(USER_AGENT)
    return _SESSION


def close_session() -> None:
    """Close the shared Session's connections (a no-op when no http(s) GET was made)."""
    global _SESSION
    if _SESSION is not None:
        _SESSION.close()
        _SESSION = None


def _get(url: str, errors: list[str], headers: dict | None = None):
    """GET with bounded retries (bundler.core.http.get) -> (response, status) or None (and a line in `errors`).

    The response is streamed (the caller reads and closes it); status is 2xx or 304.
    Bounds: ATTEMPTS tries, TIMEOUT per connect and per read, and no retry starts
    after RETRY_WINDOW. Connection errors, timeouts, 5xx and 429 are retried; other
    statuses (404 and friends) will not get better and end the tries at once.
    """
    from ..core.http import get
    resp, outcomes = get(_session(), url, attempts=ATTEMPTS, timeout=(TIMEOUT, TIMEOUT), window=RETRY_WINDOW,
                         headers=headers, ok=tuple(range(200, 300)) + (304,), pause=0.2)
    if resp is None:
        errors.append(f"{url}: {outcomes[-1] if outcomes else 'no answer'}")
        return None
    return resp, resp.status_code


def download(df: DataFile, url: str, dest: Path) -> None:
    """Fetch one data file into dest, hashing while streaming (the caller fails over mirrors)."""
    errors: list[str] = []
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise cache_problem(dest, exc) from None
    got = _get(url, errors)
    if got is None:
        raise FetchError(errors[0])
    resp = got[0]
    algo = {"sha": "sha1"}.get(df.checksum_type, df.checksum_type)
    h = hashlib.new(algo)
    tmp = dest.with_name(dest.name + f".{os.getpid()}.part")
    # repomd states each file's size: a mirror that sends more (an endless or wrong body) is cut off
    # there instead of filling the disk. A slow mirror is bounded by the read timeout of _get().
    limit = df.size if df.size else None
    from ..core.http import TooLarge, copy_capped
    try:
        with open(tmp, "wb") as out:
            try:
                copy_capped(resp, out, limit, h)
            except TooLarge:
                raise ValueError(f"sent more than the {limit} bytes repomd.xml states") from None
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno in (28, 122):  # ENOSPC, EDQUOT: no mirror will fix a full disk
            raise cache_problem(dest, exc) from None
        raise FetchError(f"{url}: {network_reason(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - any other transfer error (urllib3): next mirror
        tmp.unlink(missing_ok=True)
        raise FetchError(f"{url}: {network_reason(exc)}") from None
    finally:
        resp.close()
    if h.hexdigest() != df.checksum:
        tmp.unlink(missing_ok=True)
        raise FetchError(f"checksum mismatch for {df.type} metadata {url}: repomd.xml says "
                         f"{df.checksum_type}:{df.checksum}, the file has {df.checksum_type}:{h.hexdigest()}")
    os.replace(tmp, dest)
    log.debug("fetched %s", url)


# -- repo_gpgcheck: repodata/repomd.xml.asc ---------------------------------------

SIG_MAX_BYTES = 64 << 10   # a detached signature is a few hundred bytes


def check_repomd_signature(repo_id: str, base: str, data: bytes, cache: Path, pins: list[str],
                           keys: Callable[[], list]) -> str:
    """Check repomd.xml (`data`, read from `base`) against repodata/repomd.xml.asc and the repo's
    pinned keys; -> the signer's primary fingerprint.

    Missing, unreadable or bad signature: FetchError (exit 5). `keys()` gives the pinned keys
    (gpg.pinned_keys: a key that is not pinned is a SignatureError, exit 7); it is called only
    when a signature has to be checked, so a warm run whose repomd.xml was verified before
    (recorded in the repo's cache as repomd.sig.json, by sha256 and signer) reads no key.
    """
    import tempfile

    from ..core.run import run
    from .manifest import pin_label, pin_matches
    sha = hashlib.sha256(data).hexdigest()
    record = cache / "repomd.sig.json"
    try:
        seen = json.loads(record.read_text())
        if seen.get("sha256") == sha and pin_matches(str(seen.get("fingerprint") or "-"), pins):
            return seen["fingerprint"]
    except (OSError, ValueError, AttributeError):
        pass
    url = join_url(base, "repodata/repomd.xml.asc")
    sig = _read_signature(url)
    with tempfile.TemporaryDirectory(prefix="wcbundle-repomd-") as tmp:
        home = Path(tmp) / "g"
        home.mkdir(mode=0o700)
        for key in keys():
            run(["gpg", "--homedir", home, "--batch", "--no-autostart", "--quiet", "--import"],
                input=key.armored.encode(), check=False, timeout=60)
        (Path(tmp) / "repomd.xml").write_bytes(data)
        (Path(tmp) / "repomd.xml.asc").write_bytes(sig)
        res = run(["gpg", "--homedir", home, "--batch", "--no-autostart", "--status-fd", "1", "--verify",
                   Path(tmp) / "repomd.xml.asc", Path(tmp) / "repomd.xml"], check=False, timeout=60)
    status = [ln.split()[1:] for ln in res.stdout.splitlines() if ln.startswith("[GNUPG:] ")]
    valid = next((f for f in status if f and f[0] == "VALIDSIG"), None)
    bad = any(f and f[0] in ("BADSIG", "ERRSIG", "NO_PUBKEY", "EXPKEYSIG", "REVKEYSIG") for f in status)
    signer = valid[-1].upper() if valid else ""
    if not valid or bad or not pin_matches(signer, pins):
        why = "; ".join(" ".join(f) for f in status if f and f[0] in
                        ("BADSIG", "ERRSIG", "NO_PUBKEY", "EXPKEYSIG", "REVKEYSIG", "VALIDSIG")) \
            or (res.stderr.strip().splitlines() or ["no signature found"])[-1]
        raise FetchError(f"repo '{repo_id}': the signature {url} does not verify repomd.xml with the pinned "
                         f"key(s) {', '.join(pin_label(p) for p in pins) or '(none)'}: {why}.",
                         hint="The mirror serves metadata its vendor did not sign (stale, altered or "
                              "half-synced): use another mirror, or re-sync this one.")
    cache_write(record, json.dumps({"sha256": sha, "fingerprint": signer}).encode())
    return signer


def _read_signature(url: str) -> bytes:
    if url.startswith("file://"):
        try:
            return confined_file(url.rsplit("/repodata/", 1)[0] + "/", url).read_bytes()[:SIG_MAX_BYTES]
        except (OSError, FetchError) as exc:
            reason = exc.message if isinstance(exc, FetchError) else exc.strerror
            raise FetchError(f"repomd.xml.asc missing: {url}: {reason}.",
                             hint="The repo is marked repo-gpgcheck: its metadata must be signed.") from None
    errors: list[str] = []
    got = _get(url, errors)
    if got is None:
        raise FetchError(f"repomd.xml.asc missing: {errors[0] if errors else url}.",
                         hint="The repo is marked repo-gpgcheck: its metadata must be signed. A mirror that "
                              "does not carry repomd.xml.asc cannot be used for it.")
    resp = got[0]
    try:
        return resp.raw.read(SIG_MAX_BYTES, decode_content=True)
    except Exception as exc:  # noqa: BLE001 - any transfer error is a missing signature
        raise FetchError(f"repomd.xml.asc missing: {url}: {network_reason(exc)}.") from None
    finally:
        resp.close()


# -- modules.yaml -----------------------------------------------------------------

@dataclass
class ModuleDoc:
    name: str
    stream: str
    version: str
    context: str
    platforms: list[str]             # requires.platform of any dependency block ([] = any)
    requires: dict[str, list[str]]   # other modules this one needs: name -> streams ([] = any)
    artifacts: list[str]             # NEVRAs (name-epoch:version-release.arch)
    text: str                        # the document as published, for the bundle's modules.yaml


@dataclass
class ModuleIndex:
    docs: list[ModuleDoc] = field(default_factory=list)
    defaults: dict[str, str] = field(default_factory=dict)        # module -> default stream
    default_texts: dict[str, str] = field(default_factory=dict)   # module -> its modulemd-defaults doc


def parse_modules(data: bytes, where: str) -> ModuleIndex:
    """Split a modules.yaml stream into documents, keeping each one's text verbatim.

    Scalars are read as strings (BaseLoader) so that a stream like 10.10 is not
    turned into the float 10.1.
    """
    import re

    import yaml
    try:
        loader = yaml.CBaseLoader
    except AttributeError:  # pragma: no cover - PyYAML without libyaml
        loader = yaml.BaseLoader
    text = data.decode("utf-8", "replace")
    index = ModuleIndex()
    for chunk in re.split(r"(?m)^(?:---|\.\.\.)[ \t]*$\n?", text):
        if not chunk.strip():
            continue
        try:
            doc = yaml.load(chunk, Loader=loader)  # noqa: S506 - BaseLoader builds strings only
        except yaml.YAMLError as exc:
            raise FetchError(f"the modules metadata of {where} is not valid YAML: {exc}") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("data"), dict):
            continue
        kind, body = doc.get("document"), doc["data"]
        if kind == "modulemd-defaults" and body.get("module"):
            if body.get("stream"):
                index.defaults[body["module"]] = body["stream"]
            index.default_texts[body["module"]] = "---\n" + chunk.rstrip("\n") + "\n...\n"
        elif kind == "modulemd" and body.get("name"):
            platforms: list[str] = []
            requires: dict[str, list[str]] = {}
            for dep in body.get("dependencies") or []:
                for mod, streams in ((dep or {}).get("requires") or {}).items():
                    streams = streams if isinstance(streams, list) else [streams]
                    if mod == "platform":
                        platforms.extend(streams)
                    else:
                        requires.setdefault(mod, []).extend(streams)
            rpms = ((body.get("artifacts") or {}).get("rpms")) or []
            index.docs.append(ModuleDoc(body["name"], str(body.get("stream", "")), str(body.get("version", "0")),
                                        str(body.get("context", "")), platforms, requires, list(rpms),
                                        "---\n" + chunk.rstrip("\n") + "\n...\n"))
    return index
