"""Parallel, verified, resumable package downloads into a content-addressed cache.

Owns `<cache>/pkgs/sha256/<aa>/<hex>`: a file appears there only through
`os.replace` after its sha256 matched the lock, so every cache entry is good.
Reading the lock (a bundler.lock.Lock: its Packages' checksum, size, location,
and the repos' baseurls) is all this module does with it; nothing here knows about solving or packing.

How one package is fetched (osbuild's `org.osbuild.curl` habits):
- already cached -> re-hash it (a hard-linked bundle file may have been edited
  since); good -> done, bad -> deleted and fetched again;
- otherwise try each of the repo's baseurls in order, each a bounded number of
  times with backoff for transient failures (connection errors, timeouts, 5xx);
  a checksum mismatch or a 4xx moves straight on to the next mirror;
- bytes stream into `<hex>.part` while being hashed. A `.part` is kept after a
  *transient* failure only, as a resumable prefix: it is never a cache entry
  (the name differs and nothing reads it but this module), and on resume its
  prefix is re-hashed and continued with an HTTP Range request; a server that
  ignores Range (200) restarts it from zero. After a checksum or size mismatch
  the `.part` is deleted, so no bad bytes survive a finished attempt;
- a stalled server (slow-loris) is cut off by the read timeout (nothing at all)
  or by a minimum rate over a time window (a trickle), and the next mirror is
  tried;
- builds sharing a cache take an flock on `<hex>.lock` per package (removed on
  release), so each file is downloaded once and no two writers share a .part.
On final failure a FetchError names the package, every URL tried with its
outcome, and the expected vs actual checksum.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import hashlib
import logging
import os
import random
import stat
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from ..core import http
from ..core.errors import EnvironmentProblem, FetchError
from ..core.fileutil import sha256_file
from ..core.neterrors import network_reason
from ..lock import Lock, Package, nevra_of

log = logging.getLogger("wcbundle")

CHUNK = 256 * 1024
USER_AGENT = "wcbundle-fetch"


@dataclass
class FetchOptions:
    """Knobs with production defaults; tests and the benchmark shrink them."""

    jobs: int = 8
    tries_per_url: int = 3          # per mirror, for transient failures only
    backoff: float = 0.5            # seconds, doubled per try, plus jitter
    connect_timeout: float = 10.0
    read_timeout: float = 30.0      # no byte for this long -> give up on this attempt
    min_rate: float = 1024          # bytes/s; slower than this over speed_time seconds = stalled
    speed_time: float = 30.0
    lock_wait: float = 900.0        # bounded wait for another process fetching the same file


@dataclass
class FetchStats:
    """What a fetch did, for the CLI summary and the benchmark."""

    packages: int = 0
    cached: int = 0
    downloaded: int = 0
    bytes_downloaded: int = 0
    bytes_total: int = 0
    seconds: float = 0.0
    resumed: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **kw: int) -> None:
        with self._lock:
            for k, v in kw.items():
                setattr(self, k, getattr(self, k) + v)


class _Mismatch(Exception):
    """The bytes were complete but wrong (size or sha256): never retried on the same URL."""

    def __init__(self, outcome: str, actual: str | None):
        super().__init__(outcome)
        self.actual = actual


class _Permanent(Exception):
    """A 4xx or an unusable URL: the next mirror, not another try."""


class _Transient(Exception):
    """Connection trouble, timeouts, 5xx: worth another try after a pause."""


def cache_path(cache_dir: Path, checksum: str) -> Path:
    """Where the verified file of `sha256:<hex>` lives in the cache."""
    algo, _, hexd = checksum.partition(":")
    if algo != "sha256" or len(hexd) != 64:
        raise FetchError(f"unsupported checksum '{checksum}' in the lock: only sha256:<64 hex> is accepted.",
                         hint="Re-create the lock with `wcbundle resolve`.")
    return Path(cache_dir) / "pkgs" / "sha256" / hexd[:2] / hexd


def package_urls(pkg: Package, repos: dict) -> list[str]:
    """Every URL of a package: each baseurl of its repo + location, then the lock's url."""
    from ..resolve.metadata import confined_href
    urls: list[str] = []
    if not confined_href(pkg.location):  # a lock edited to leave the repo root: only its own url
        return [pkg.url] if pkg.url else []
    for base in (repos.get(pkg.repo, {}) or {}).get("baseurls", []) or []:
        url = base.rstrip("/") + "/" + pkg.location
        if url not in urls:
            urls.append(url)
    if pkg.url and pkg.url not in urls:
        urls.append(pkg.url)
    return urls


class _Progress:
    """One tqdm byte bar on stderr (rate, ETA); a no-op when quiet or not a TTY."""

    def __init__(self, total: int, quiet: bool):
        self.bar = None
        self.lock = threading.Lock()
        if not quiet and total > 0 and sys.stderr.isatty():
            from tqdm import tqdm
            self.bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                            desc="download", file=sys.stderr, leave=False, dynamic_ncols=True)

    def update(self, n: int) -> None:
        if self.bar is not None and n:
            with self.lock:
                self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class Fetcher:
    """Fetches the packages of one lock; `fetch_all` is the one-call front door."""

    def __init__(self, cache_dir: Path, opts: FetchOptions | None = None, quiet: bool = False,
                 stats: FetchStats | None = None):
        self.cache_dir = Path(cache_dir)
        self.opts = opts or FetchOptions()
        self.quiet = quiet
        self.stats = stats if stats is not None else FetchStats()
        self._local = threading.local()
        self._sessions: list[http.Session] = []
        self._sessions_lock = threading.Lock()
        self._progress: _Progress | None = None
        self._file_bases: list[str] = []  # the file:// baseurls of the repos: each local file's root

    # -- sessions: one per worker thread, so connections are reused -------------
    def _session(self) -> http.Session:
        s = getattr(self._local, "session", None)
        if s is None:
            # Byte offsets must be the file's own for Range resumes: no transfer encoding (identity).
            # Proxies: bundler.core.http's one policy (the standard proxy environment variables).
            s = http.Session(USER_AGENT, identity=True)
            self._local.session = s
            with self._sessions_lock:
                self._sessions.append(s)
        return s

    def close(self) -> None:
        with self._sessions_lock:
            for s in self._sessions:
                s.close()
            self._sessions.clear()

    # -- the whole lock ---------------------------------------------------------
    def fetch(self, lock: Lock) -> dict[str, Path]:
        return self.fetch_packages(lock.packages, lock.repos)

    def fetch_packages(self, packages: list[Package], repos: dict[str, dict]) -> dict[str, Path]:
        """The packages (each once per checksum), from their repos' baseurls -> checksum -> cache file."""
        repos = repos or {}
        self._file_bases = [b.rstrip("/") for r in repos.values() for b in ((r or {}).get("baseurls") or [])
                            if urlparse(b).scheme == "file"]
        unique: dict[str, Package] = {}
        for pkg in packages:
            unique.setdefault(pkg.checksum, pkg)
        start = time.monotonic()
        self.stats.packages = len(unique)
        self.stats.bytes_total = sum(int(p.size or 0) for p in unique.values())
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EnvironmentProblem(f"cannot create the cache directory {self.cache_dir}: {exc.strerror}.",
                                     hint="Pass a writable --cache DIR.") from exc
        result: dict[str, Path] = {}
        todo: list[Package] = []
        # Cached files are checked first so the bar only counts what must be downloaded.
        with ThreadPoolExecutor(max_workers=max(1, self.opts.jobs)) as pool:
            for checksum, path in zip(unique, pool.map(self._cached, unique)):
                if path is not None:
                    result[checksum] = path
                else:
                    todo.append(unique[checksum])
        self.stats.add(cached=len(result))
        self._progress = _Progress(sum(int(p.size or 0) for p in todo), self.quiet)
        errors: list[FetchError] = []
        pool = ThreadPoolExecutor(max_workers=max(1, self.opts.jobs))
        try:
            futures = {pool.submit(self._fetch_one, p, package_urls(p, repos)): p for p in todo}
            for fut in as_completed(futures):
                try:
                    result[futures[fut].checksum] = fut.result()
                except FetchError as exc:
                    errors.append(exc)
        except BaseException:
            # Ctrl-C or a fatal error (full disk): queued downloads are dropped, running ones end
            # within their timeouts.
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        finally:
            pool.shutdown(wait=True)
            self._progress.close()
            self.close()
            self.stats.seconds = time.monotonic() - start
        if errors:
            if len(errors) == 1:
                raise errors[0]
            raise FetchError(f"{len(errors)} packages could not be downloaded:\n\n"
                             + "\n\n".join(e.message for e in errors),
                             hint=errors[0].hint)
        return result

    def _cached(self, checksum: str) -> Path | None:
        path = cache_path(self.cache_dir, checksum)
        if not path.is_file():
            return None
        if sha256_file(path) == checksum.split(":", 1)[1]:
            return path
        log.warning("cache entry %s does not match its name (edited or corrupted); fetching it again", path)
        path.unlink()
        return None

    # -- one package ------------------------------------------------------------
    def _fetch_one(self, pkg: Package, urls: list[str]) -> Path:
        final = cache_path(self.cache_dir, pkg.checksum)
        final.parent.mkdir(parents=True, exist_ok=True)
        part = final.with_name(final.name + ".part")
        with _PartLock(part.with_name(final.name + ".lock"), self.opts.lock_wait, pkg):
            if final.is_file():  # another process finished (and verified) it while we waited
                self.stats.add(cached=1)  # counted as from the cache, so downloaded + cached == packages
                if self._progress is not None:
                    self._progress.update(int(pkg.size or 0))
                return final
            return self._fetch_locked(pkg, urls, final, part)

    def _fetch_locked(self, pkg: Package, urls: list[str], final: Path, part: Path) -> Path:
        expected = pkg.checksum.split(":", 1)[1]
        size = int(pkg.size or 0) or None
        outcomes: list[str] = []
        actual: str | None = None
        if not urls:
            outcomes.append("(no URL: the lock names no baseurl and no url for this package)")
        for url in urls:
            for attempt in range(1, self.opts.tries_per_url + 1):
                try:
                    got = self._attempt_counted(url, part, size)
                    if got != expected:
                        part.unlink(missing_ok=True)
                        raise _Mismatch(f"checksum mismatch (got sha256:{got})", got)
                    os.replace(part, final)
                    self.stats.add(downloaded=1)
                    return final
                except _Mismatch as exc:
                    actual = exc.actual or actual
                    outcomes.append(f"{url}: {exc}")
                    break
                except _Permanent as exc:
                    outcomes.append(f"{url}: {exc}")
                    break
                except _Transient as exc:
                    outcomes.append(f"{url}: try {attempt}/{self.opts.tries_per_url}: {exc}")
                    if attempt < self.opts.tries_per_url:
                        time.sleep(self.opts.backoff * (2 ** (attempt - 1)) * (1 + random.random() / 2))  # noqa: S311
                except OSError as exc:
                    part.unlink(missing_ok=True)
                    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                        raise EnvironmentProblem(
                            f"no space left in the cache {self.cache_dir} while downloading {nevra_of(pkg)}.",
                            hint="Free some space or pass --cache DIR on a larger disk.") from exc
                    raise EnvironmentProblem(f"cannot write {part}: {exc}.",
                                             hint="Check the cache directory's permissions.") from exc
        tried = "\n".join(f"  - {o}" for o in outcomes)
        raise FetchError(
            f"could not download {nevra_of(pkg)} (repo '{pkg.repo}', {pkg.location}).\n"
            f"Expected sha256:{expected}" + (f", size {size}" if size else "")
            + (f"; last bytes received hashed to sha256:{actual}" if actual else "") + ".\n"
            f"Every URL tried:\n{tried}",
            hint="Check the mirrors named above, or re-resolve if the repository changed since the lock "
                 "was made. No unverified file was kept in the cache (at most a resumable "
                 f"{expected[:12]}....part prefix after a broken connection, re-hashed when resumed).")

    def _attempt_counted(self, url: str, part: Path, size: int | None) -> str:
        """One attempt; the bar gets back what a failed attempt added, so retries do not overcount."""
        self._local.counted = 0
        try:
            return self._attempt(url, part, size)
        except BaseException:
            self._progress.update(-self._local.counted)
            raise

    def _advance(self, n: int) -> None:
        self._local.counted += n
        self._progress.update(n)

    def _attempt(self, url: str, part: Path, size: int | None) -> str:
        """Download (or resume) url into part; return the sha256 hex of the whole file."""
        scheme = urlparse(url).scheme
        if scheme == "file":
            return self._copy_file(self._local_file(url), part, size)
        if scheme not in ("http", "https"):
            raise _Permanent(f"unsupported URL scheme '{scheme}'")
        h = hashlib.sha256()
        have = 0
        if part.exists():
            have = part.stat().st_size
            if size is not None and have >= size:
                part.unlink()  # complete-but-unverified or oversized: start over
                have = 0
            else:
                with open(part, "rb") as f:  # the prefix is re-hashed, not trusted
                    for block in iter(lambda: f.read(1 << 20), b""):
                        h.update(block)
        headers = {"Range": f"bytes={have}-"} if have else {}
        o = self.opts
        try:
            resp = self._session().get(url, stream=True, headers=headers,
                                       timeout=(o.connect_timeout, o.read_timeout))
        except http.TooManyRedirects:
            raise _Permanent("redirect loop (more than 30 redirects)") from None
        except http.RequestException as exc:
            raise _Transient(network_reason(exc)) from None
        try:
            if resp.status_code == 206 and have:
                crange = resp.headers.get("Content-Range", "")
                if not crange.startswith(f"bytes {have}-"):
                    part.unlink(missing_ok=True)
                    raise _Transient(f"bad Content-Range '{crange}' for a resume at {have}")
                mode = "ab"
                self._advance(have)  # the verified-later prefix counts as done on the bar
                self.stats.add(resumed=1)
            elif resp.status_code == 200:
                if have:  # the server ignored Range: start over
                    h, have = hashlib.sha256(), 0
                mode = "wb"
            elif resp.status_code == 416:
                part.unlink(missing_ok=True)
                raise _Transient("HTTP 416 (range not satisfiable); restarting from zero")
            elif resp.status_code >= 500 or resp.status_code in (408, 429):
                raise _Transient(f"HTTP {resp.status_code}")
            else:
                raise _Permanent(f"HTTP {resp.status_code}")
            written = self._stream(resp, part, mode, h, have, size)
        finally:
            resp.close()
        if size is not None and written != size:
            if written < size:
                raise _Transient(f"short read: {written} of {size} bytes")
            part.unlink(missing_ok=True)
            raise _Mismatch(f"size mismatch: got more than the {size} bytes the lock says", None)
        return h.hexdigest()

    def _stream(self, resp: http.Response, part: Path, mode: str, h: Any, have: int,
                size: int | None) -> int:
        """Append the body to part while hashing; return the file's length so far.

        The slow-loris bound, curl's --speed-limit/--speed-time: a server that sends
        nothing for read_timeout, or less than min_rate bytes/s over any speed_time
        window (a trickle), loses the attempt; the .part stays for a resume elsewhere.
        """
        o = self.opts
        written = have
        window_start, window_bytes = time.monotonic(), 0
        with open(part, mode) as f:
            try:
                for chunk in http.chunks(resp, CHUNK):
                    f.write(chunk)
                    h.update(chunk)
                    written += len(chunk)
                    window_bytes += len(chunk)
                    self.stats.add(bytes_downloaded=len(chunk))
                    self._advance(len(chunk))
                    if size is not None and written > size:
                        break
                    now = time.monotonic()
                    if now - window_start >= o.speed_time:
                        if window_bytes < o.min_rate * (now - window_start):
                            raise _Transient(f"transfer cut off after {written} bytes: slower than "
                                             f"{int(o.min_rate)} B/s for {o.speed_time:.0f}s")
                        window_start, window_bytes = now, 0
            except http.TRANSFER_ERRORS as exc:
                if size is not None and written == size:
                    return written  # every byte arrived (a lying Content-Length); the hash decides
                raise _Transient(f"transfer cut off after {written} bytes: {network_reason(exc)}") from None
        return written

    def _local_file(self, url: str) -> Path:
        """The path of a file:// package, resolved and confined to its repo root: the repo's baseurl
        the url starts with, else (a lock's or a direct RPM's own url) the url's own folder."""
        from ..resolve.metadata import confined_file, confined_href
        for base in self._file_bases:
            if url.startswith(base + "/"):
                if not confined_href(url[len(base) + 1:]):
                    raise _Permanent(f"'{url[len(base) + 1:][:200]}' is not a plain path inside the repo {base}")
                break
        else:
            path = unquote(urlparse(url).path)
            if not path.startswith("/") or any(seg in (".", "..") for seg in path.split("/")):
                raise _Permanent("a local package path must be absolute, without '.' or '..' parts")
            base = Path(path).parent.as_uri()
        try:
            return confined_file(base, url)
        except FetchError as exc:
            raise _Permanent(exc.message) from None
        except (OSError, RuntimeError) as exc:  # a symlink loop
            raise _Permanent(f"cannot resolve the local path: {exc}") from None

    def _copy_file(self, src: Path, part: Path, size: int | None) -> str:
        """Copy a local package (already resolved and confined): opened without following a symlink and
        without blocking (a FIFO), a regular file only, read no further than the lock's size + 1 byte."""
        try:
            fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise _Permanent(f"{src} became a symlink after it was resolved; refusing it") from None
            raise _Permanent((exc.strerror or str(exc)).lower()) from None
        with os.fdopen(fd, "rb") as fin:
            st = os.fstat(fin.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise _Permanent(f"{src} is not a regular file (a FIFO, device or directory); refusing it")
            limit = (size if size is not None else st.st_size) + 1  # one byte more shows a longer file
            h = hashlib.sha256()
            n = 0
            with open(part, "wb") as fout:
                while n < limit:
                    block = fin.read(min(CHUNK, limit - n))
                    if not block:
                        break
                    fout.write(block)
                    h.update(block)
                    n += len(block)
                    self._advance(len(block))
                    self.stats.add(bytes_downloaded=len(block))
        if size is not None and n != size:
            part.unlink(missing_ok=True)
            what = f"more than {size}" if n > size else f"{n}"
            raise _Mismatch(f"size mismatch: {what} bytes, expected {size}", None if n > size else h.hexdigest())
        return h.hexdigest()


class _PartLock:
    """An flock on `<hex>.lock`, so two builds sharing a cache never write the same .part.

    The lock file is removed on release, so a finished download leaves only its cache
    entry. That is race-free because a waiter, once it holds the flock, checks that the
    path still names the inode it locked (else the holder removed it: retry).
    """

    def __init__(self, path: Path, wait: float, pkg: Package):
        self.path, self.wait, self.pkg = path, wait, pkg
        self.fd: int | None = None

    def __enter__(self) -> _PartLock:
        end = time.monotonic() + self.wait
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                if time.monotonic() > end:
                    raise FetchError(
                        f"another process has been downloading {nevra_of(self.pkg)} into {self.path.parent} "
                        f"for more than {self.wait:.0f}s.",
                        hint="Wait for the other wcbundle build to finish, or use a separate --cache.") from None
                time.sleep(0.2)
                continue
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self.fd = fd
                return self
            os.close(fd)  # the holder removed it between our open and flock: take the new one
            if time.monotonic() > end:   # bounded in time on this path too
                raise FetchError(f"could not lock {self.path} for {nevra_of(self.pkg)} within {self.wait:.0f}s: "
                                 "another build keeps replacing it.",
                                 hint="Wait for the other wcbundle build to finish, or use a separate --cache.")

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            self.path.unlink(missing_ok=True)  # while still holding it (see the class docstring)
            os.close(self.fd)
            self.fd = None


def fetch_all(lock: Lock, cache_dir: Path, jobs: int = 8, quiet: bool = False,
              opts: FetchOptions | None = None, stats: FetchStats | None = None) -> dict[str, Path]:
    """Make every package of `lock` present and verified in the cache; return checksum -> path.

    A warm cache downloads nothing. `stats`, when given, is filled in (bytes, counts, time).
    """
    return fetch_packages(lock.packages, lock.repos, cache_dir, jobs, quiet, opts, stats)


def fetch_packages(packages: list[Package], repos: dict[str, dict], cache_dir: Path, jobs: int = 8,
                   quiet: bool = False, opts: FetchOptions | None = None,
                   stats: FetchStats | None = None) -> dict[str, Path]:
    """fetch_all for packages outside a whole lock (a manifest's direct RPM at resolve time)."""
    opts = dataclasses.replace(opts or FetchOptions(), jobs=jobs)
    return Fetcher(Path(cache_dir), opts, quiet, stats).fetch_packages(packages, repos)
