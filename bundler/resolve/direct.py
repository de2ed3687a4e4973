"""A manifest's direct RPMs: downloaded and verified (by sha256, or by their pinned key), indexed
with createrepo_c and loaded into the pool as a repo of their own."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import solv

from ..core.errors import FetchError, ResolveError
from ..lock import Package
from .manifest import DirectRpm, Manifest, RepoConf
from .pool import Loaded
from .selection import Selection

log = logging.getLogger("wcbundle")

@dataclass
class Direct:
    """A direct RPM of the manifest: downloaded, verified, indexed for libsolv."""

    entry: DirectRpm
    path: Path            # the verified file in the package cache
    repodata: Path        # a one-package createrepo_c index of it
    sha256: str = ""      # the manifest's, or the one seen (a key-pinned direct RPM)


@dataclass
class DirectLoaded:
    direct: Direct
    sid: int              # its solvable in the pool


def fetch_direct(man: Manifest, sel: Selection, roles: list[str], workdir: Path) -> list[Direct]:
    """Download and index each direct RPM that a role of this run asks for.

    A direct RPM with a sha256 is fetched like a lock's package (sha256-verified, into the package
    cache); a wrong sha256 is a FetchError naming the URL, the expected and the actual digest, and
    leaves nothing in the cache. One pinned by its signing key's fingerprint instead (the vendor
    publishes no sha256) must pass `rpmkeys --checksig` against exactly that key before it enters
    the cache; the lock records the sha256 seen. A direct RPM whose `id` a --repo names is not
    downloaded: that repo (an internal mirror) stands in for it.
    """
    entries = [d for d in man.for_el(sel.el).direct_rpms
               if set(d.roles) & set(roles) and not (d.id and d.id in sel.repos)]
    if not entries:
        return []
    from ..assemble.localrepo import index_for_solving
    out: list[Direct] = []
    for i, entry in enumerate(entries):
        fname = entry.url.rsplit("/", 1)[-1]
        if entry.sha256:
            path = _fetch_direct_by_sha(man, sel, entry, fname)
            if entry.fingerprints:
                from ..assemble.signatures import check_rpm_pinned, pinned_keys
                check_rpm_pinned(path, pinned_keys(f"direct RPM {entry.url}", entry.gpgkey, entry.fingerprints),
                                 f"the direct RPM {entry.url}")
            sha = entry.sha256
        else:
            path, sha = _fetch_direct_by_key(sel, entry, workdir)
        repo_dir = workdir / f"direct-{i}"
        repo_dir.mkdir(parents=True)
        try:
            os.link(path, repo_dir / fname)
        except OSError:
            import shutil
            shutil.copyfile(path, repo_dir / fname)
        out.append(Direct(entry, path, index_for_solving(repo_dir), sha))
    return out


def _fetch_direct_by_sha(man: Manifest, sel: Selection, entry: DirectRpm, fname: str) -> Path:
    from ..assemble.fetch import fetch_packages  # (requests: only when there is something to download)
    pkg = Package(name=fname, epoch=0, version="", release="", arch="", repo="direct", location=fname,
                  url=entry.url, checksum=f"sha256:{entry.sha256}", size=0)
    try:
        files = fetch_packages([pkg], {}, sel.cache_dir, jobs=1, quiet=True)
    except FetchError as exc:
        detail = exc.message.split("\n", 1)[-1]
        raise FetchError(f"could not download the direct RPM {entry.url} (el.{sel.el}.direct-rpms of "
                         f"{man.path}).\n{detail}",
                         hint="Check the URL and the sha256 in the manifest: a vendor that replaced the "
                              "file under the same name needs a new sha256 (after checking the new file). "
                              "Nothing unverified was kept in the cache.") from None
    return files[pkg.checksum]


DIRECT_MAX_BYTES = 2 << 30     # a direct RPM larger than 2 GiB is refused
DIRECT_TIMEOUT = (10.0, 30.0)  # connect, read (no byte for this long)
DIRECT_TRIES = 3


def _fetch_direct_by_key(sel: Selection, entry: DirectRpm, workdir: Path) -> tuple[Path, str]:
    """-> (the verified file in the package cache, its sha256). A file verified before for the same
    URL and pins is reused from the cache (index under <cache>/direct/)."""

    from ..assemble.fetch import cache_path
    from ..assemble.signatures import check_rpm_pinned, pinned_keys
    from ..core.fileutil import sha256_file
    from .metadata import cache_write
    index = Path(sel.cache_dir) / "direct" / (hashlib.sha256(entry.url.encode()).hexdigest()[:32] + ".json")
    try:
        rec = json.loads(index.read_text())
        if rec.get("url") == entry.url and rec.get("fingerprints") == entry.fingerprints:
            cached = cache_path(sel.cache_dir, f"sha256:{rec['sha256']}")
            if cached.is_file():
                return cached, rec["sha256"]
    except (OSError, ValueError, KeyError, TypeError, FetchError):
        pass
    keys = pinned_keys(f"direct RPM {entry.url}", entry.gpgkey, entry.fingerprints)
    incoming = workdir / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    tmp = incoming / entry.url.rsplit("/", 1)[-1]
    _download_direct(entry.url, tmp)
    check_rpm_pinned(tmp, keys, f"the direct RPM {entry.url}")
    sha = sha256_file(tmp)
    dest = cache_path(sel.cache_dir, f"sha256:{sha}")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        import shutil
        shutil.copyfile(tmp, dest.with_name(dest.name + f".{os.getpid()}.part"))
        os.replace(dest.with_name(dest.name + f".{os.getpid()}.part"), dest)
    except OSError as exc:
        from .metadata import cache_problem
        raise cache_problem(dest, exc) from None
    cache_write(index, json.dumps({"url": entry.url, "sha256": sha, "fingerprints": entry.fingerprints}).encode())
    log.info("direct RPM %s: signed by its pinned key; sha256 %s", entry.url, sha)
    return dest, sha


def _download_direct(url: str, dest: Path) -> None:
    """GET (or read a file:// URL) into dest: DIRECT_TRIES tries, bounded in time and size."""
    from urllib.parse import unquote, urlparse

    from ..core.neterrors import network_reason
    if url.startswith("file://"):
        try:
            import shutil
            shutil.copyfile(unquote(urlparse(url).path), dest)
            return
        except OSError as exc:
            raise FetchError(f"could not read the direct RPM {url}: {exc.strerror}.",
                             hint="Check the URL in the manifest.") from None
    from ..core import http
    outcomes: list[str] = []
    with http.Session("wcbundle") as s:
        while len(outcomes) < DIRECT_TRIES:  # every try, a failed status or a body cut off, counts
            resp, failed = http.get(s, url, attempts=DIRECT_TRIES - len(outcomes), timeout=DIRECT_TIMEOUT)
            outcomes += failed
            if resp is None:
                break
            try:
                with open(dest, "wb") as out:
                    http.copy_capped(resp, out, DIRECT_MAX_BYTES)
                return
            except http.TooLarge:
                dest.unlink(missing_ok=True)
                raise FetchError(f"the direct RPM {url} is larger than {DIRECT_MAX_BYTES >> 20} MiB; "
                                 "refused.") from None
            except http.TRANSFER_ERRORS as exc:
                outcomes.append(network_reason(exc))
            finally:
                resp.close()
    dest.unlink(missing_ok=True)
    raise FetchError(f"could not download the direct RPM {url}: {', '.join(outcomes)}.",
                     hint="Check the URL (the vendor may have moved the release file): "
                          "`wcbundle sources --check` probes every source.")


def _direct_id(loaded: Loaded, name: str, arch: str) -> str:
    """direct-<name> (direct-<name>-<arch>, then -2, -3... when taken), valid as a repo id."""
    base = "direct-" + re.sub(r"[^A-Za-z0-9_.:-]", "_", name)
    rid, n = base, 1
    while rid in loaded.confs:
        n += 1
        rid = f"{base}-{arch}" if n == 2 else f"{base}-{arch}-{n - 1}"
    return rid


def _load_direct(loaded: Loaded, d: Direct) -> None:
    """A direct RPM as a repo of its own (one solvable), named after the package."""
    primary, filelists = d.repodata / "primary.xml.gz", d.repodata / "filelists.xml.gz"
    scratch = solv.Pool()
    scratch.setarch("x86_64")
    probe = scratch.add_repo("probe")
    fp = solv.xfopen(str(primary))
    ok = fp is not None and probe.add_rpmmd(fp, None, 0)
    if fp is not None:
        fp.close()
    first = next(iter(probe.solvables_iter()), None) if ok else None
    if first is None:
        raise ResolveError(f"the direct RPM {d.entry.url} cannot be read as an RPM package "
                           f"(libsolv: {scratch.errstr or 'no package in its index'}).",
                           hint="Check that the manifest's URL names an RPM file.")
    name, arch = first.name, first.arch
    del first, probe  # nothing may point into the scratch pool once it is freed
    scratch.free()
    rid = _direct_id(loaded, name, arch)
    repo = loaded.pool.add_repo(rid)
    for path, flags in ((primary, 0), (filelists, solv.Repo.REPO_EXTEND_SOLVABLES)):
        fp = solv.xfopen(str(path))
        ok = fp is not None and repo.add_rpmmd(fp, None, flags)
        if fp is not None:
            fp.close()
        if not ok:
            raise ResolveError(f"libsolv cannot read the index of the direct RPM {d.entry.url}: "
                               f"{loaded.pool.errstr}.")
    repo.internalize()
    conf = RepoConf(id=rid, baseurls=[d.entry.url.rsplit("/", 1)[0] + "/"], gpgkeys=list(d.entry.gpgkey),
                    fingerprints=list(d.entry.fingerprints))
    repo.priority = -conf.priority
    loaded.confs[rid] = conf
    loaded.repos[rid] = repo
    loaded.direct[rid] = DirectLoaded(d, next(iter(repo.solvables_iter())).id)
    log.debug("direct RPM %s: repo %s", d.entry.url, rid)
