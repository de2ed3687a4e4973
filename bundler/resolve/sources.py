"""`wcbundle sources`: what the manifest downloads from, per EL, and (with --check) whether it is
still there: repos, their keys and pinned fingerprints, repo metadata signatures, direct RPMs, pins.

Every probe is one bounded request (PROBE_TIMEOUT per connect and per read, no retry) and the
whole check has a time budget (CHECK_BUDGET); a source not probed in time counts as unreachable.
Verdicts and exit codes: `ok` (0); `unreachable`, `stale` or `missing` (5: a repo or file that
does not answer, metadata older than --max-age or not signed as marked, a pinned version the
source does not carry); `key-mismatch` (7: a key URL that serves no pinned key).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import lzma
import re
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..core.errors import EXIT_FETCH, EXIT_OK, EXIT_SIGNATURE, FetchError, SignatureError
from .manifest import Manifest, metadata_keys_of, pin_label

log = logging.getLogger("wcbundle")

PROBE_TIMEOUT = (5.0, 15.0)        # connect, read: every single request
BODY_SECONDS = 60.0                # and no body is read for longer than this (a trickling server)
CHECK_BUDGET = 240.0               # seconds for the whole --check
PRIMARY_MAX_BYTES = 64 << 20       # a primary metadata file larger than this is not read for the pin check
REPO_NS = "{http://linux.duke.edu/metadata/repo}"
COMMON_NS = "{http://linux.duke.edu/metadata/common}"
SEVERITY = {"ok": 0, "unreachable": 1, "stale": 1, "missing": 1, "key-mismatch": 2}


@dataclass
class Source:
    el: int
    kind: str                      # "repo" | "direct-rpm"
    id: str
    urls: list[str]                # baseurls, or the RPM's URL
    gpgkeys: list[str]
    fingerprints: list[str]
    repo_gpgcheck: bool = False
    pins: dict[str, str] = field(default_factory=dict)   # pin name -> version this source must carry
    sha256: str = ""
    size: int = 0
    roles: list[str] = field(default_factory=list)
    # the keys repomd.xml.asc is checked against, when not the package keys (manifest metadata-gpgkeys)
    metadata_gpgkeys: list[str] = field(default_factory=list)
    metadata_pins: list[str] = field(default_factory=list)   # full fingerprints or 16-hex key ids

    def metadata_keys(self) -> tuple[list[str], list[str]]:
        return metadata_keys_of(self)


@dataclass
class Probe:
    source: Source
    verdict: str = "ok"
    notes: list[str] = field(default_factory=list)

    def fail(self, verdict: str, note: str) -> None:
        if SEVERITY[verdict] > SEVERITY[self.verdict]:
            self.verdict = verdict
        self.notes.append(note)


def list_sources(man: Manifest, els: list[int]) -> list[Source]:
    """Every source of the manifest for these ELs. A pin is checked in the source whose id is the
    pin's name (mariadb, erlang, rabbitmq), the convention of the embedded manifest."""
    out: list[Source] = []
    for el in els:
        conf = man.for_el(el)
        for r in conf.repos:
            pins = {p: v for p, v in conf.pins.items() if p == r.id}
            out.append(Source(el, "repo", r.id, list(r.baseurls), list(r.gpgkeys), list(r.fingerprints),
                              r.repo_gpgcheck, pins, metadata_gpgkeys=list(r.metadata_gpgkeys),
                              metadata_pins=list(r.metadata_pins)))
        for d in conf.direct_rpms:
            sid = d.id or d.url.rsplit("/", 1)[-1]
            pins = {p: v for p, v in conf.pins.items() if p == d.id}
            out.append(Source(el, "direct-rpm", sid, [d.url], list(d.gpgkey), list(d.fingerprints), False, pins,
                              d.sha256, d.size, list(d.roles)))
    return out


def spaced(fpr: str) -> str:
    return " ".join(fpr[i:i + 4] for i in range(0, len(fpr), 4))


def pin_text(pin: str) -> str:
    """A pin as printed: a spaced fingerprint, or a key id said to be one (64 bits, not a fingerprint)."""
    return pin_label(pin, spaced=True) + ("" if len(pin) == 40 else " (64-bit id only, no full fingerprint)")


# -- probing --------------------------------------------------------------------------------

def check_sources(sources: list[Source], *, max_age_days: float | None = None, workers: int = 4,
                  budget: float = CHECK_BUDGET) -> list[Probe]:
    """Probe every source (in parallel, bounded in time); one Probe per source, in order."""
    from ..core.http import Session
    deadline = time.monotonic() + budget
    key_cache: dict[tuple[str, tuple[str, ...]], Probe] = {}
    with Session("wcbundle-sources", identity=False) as session, ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [pool.submit(_probe, session, s, max_age_days, deadline, key_cache) for s in sources]
        probes = []
        for src, fut in zip(sources, futures):
            try:
                probes.append(fut.result(timeout=max(1.0, deadline - time.monotonic() + 30)))
            except Exception as exc:  # noqa: BLE001 - one source's surprise must not hide the others
                p = Probe(src)
                p.fail("unreachable", f"not probed: {exc}")
                probes.append(p)
    return probes


def exit_code(probes: list[Probe]) -> int:
    worst = max((SEVERITY[p.verdict] for p in probes), default=0)
    return {0: EXIT_OK, 1: EXIT_FETCH, 2: EXIT_SIGNATURE}[worst]


def _probe(session, src: Source, max_age_days, deadline, key_cache) -> Probe:
    p = Probe(src)
    if time.monotonic() > deadline:
        p.fail("unreachable", "not probed: the time budget of the check was spent")
        return p
    _check_keys(p, key_cache)
    if src.kind == "repo":
        _check_repo(session, p, max_age_days)
    else:
        _check_direct(session, p)
    return p


def _get(session, url: str, *, head: bool = False, stream: bool = False):
    """One bounded request (file:// read directly) -> (status, headers, body or None, error text)."""
    if url.startswith("file://"):
        from .metadata import file_url_path
        path = file_url_path(url)
        try:
            body = b"" if head else path.read_bytes()
            return 200, {"Content-Length": str(path.stat().st_size)}, body, ""
        except OSError as exc:
            return 404, {}, None, f"{exc.strerror}"
    from ..core.http import RequestException
    try:
        if head:
            resp = session.head(url, timeout=PROBE_TIMEOUT, allow_redirects=True)
            return resp.status_code, resp.headers, None, ""
        resp = session.get(url, timeout=PROBE_TIMEOUT, stream=stream)
        if resp.status_code != 200:
            resp.close()
            return resp.status_code, resp.headers, None, f"HTTP {resp.status_code}"
        return 200, resp.headers, resp, ""
    except RequestException as exc:
        from ..core.neterrors import network_reason
        return 0, {}, None, network_reason(exc)


def _check_keys(p: Probe, key_cache) -> None:
    from ..assemble.signatures import pinned_keys
    src = p.source
    if not src.gpgkeys:
        p.fail("key-mismatch", "no gpgkey: nothing could vouch for its packages")
        return
    checks = [("key", f"{src.kind} '{src.id}'", url, src.fingerprints) for url in src.gpgkeys]
    checks += [("metadata key", f"{src.kind} '{src.id}' (its metadata key)", url, src.metadata_pins)
               for url in src.metadata_gpgkeys]
    for what, owner, url, pins in checks:
        try:
            keys = pinned_keys(owner, [url], pins)
            p.notes.append(f"{what} {url}: {', '.join(spaced(k.fingerprint) for k in keys)} matches its pin"
                           + ("" if all(len(x) == 40 for x in pins) else " (by 64-bit key id)"))
        except SignatureError as exc:
            p.fail("key-mismatch", exc.message)
        except FetchError as exc:
            p.fail("unreachable", exc.message)


def _check_repo(session, p: Probe, max_age_days) -> None:
    from .metadata import join_url
    src = p.source
    answered: list[tuple[str, bytes]] = []
    for base in src.urls:
        url = join_url(base, "repodata/repomd.xml")
        status, headers, resp, err = _get(session, url, stream=True)
        if status != 200:
            p.notes.append(f"{url}: {err or 'HTTP ' + str(status)}")
            continue
        try:
            body = resp if isinstance(resp, bytes) else _read_capped(resp, 8 << 20)
        except (FetchError, OSError) as exc:
            p.notes.append(f"{url}: {exc}")
            continue
        answered.append((base, body))
    if not answered:
        p.fail("unreachable", f"repomd.xml unreachable on every mirror ({len(src.urls)})")
        return
    base, data = answered[0]
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        p.fail("unreachable", f"{base}: repomd.xml is not XML ({exc})")
        return
    stamps = [int(t.text) for t in root.iter(REPO_NS + "timestamp") if (t.text or "").strip().isdigit()]
    age = (time.time() - max(stamps)) / 86400 if stamps else None
    p.notes.append(f"repomd.xml reachable on {len(answered)}/{len(src.urls)} mirror(s)"
                   + (f", age {age:.0f} days" if age is not None else ", age unknown (no timestamps)"))
    if max_age_days is not None and age is not None and age > max_age_days:
        p.fail("stale", f"metadata is {age:.0f} days old (more than --max-age {max_age_days:g})")
    if src.repo_gpgcheck:
        _check_signature(p, base, data)
    if src.pins:
        _check_repo_pins(session, p, base, root)


def _read_capped(resp, limit: int) -> bytes:
    """The body, at most `limit` bytes and BODY_SECONDS long: a server that trickles (a byte every
    few seconds never trips the read timeout) has its connection shut down by a timer."""
    import socket
    import threading
    buf = io.BytesIO()
    cut = threading.Event()

    def abort() -> None:
        cut.set()
        sock = getattr(getattr(resp.raw, "_connection", None), "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
    timer = threading.Timer(BODY_SECONDS, abort)
    timer.daemon = True
    timer.start()
    try:
        for chunk in resp.iter_content(1 << 16):
            buf.write(chunk)
            if buf.tell() > limit:
                raise FetchError(f"more than {limit >> 20} MiB")
    except Exception as exc:
        if cut.is_set():
            raise FetchError(f"still sending after {BODY_SECONDS:g} s (a stalled or trickling server)") from None
        if isinstance(exc, FetchError):
            raise
        from ..core.neterrors import network_reason
        raise FetchError(network_reason(exc)) from None
    finally:
        timer.cancel()
        resp.close()
    if cut.is_set():
        raise FetchError(f"still sending after {BODY_SECONDS:g} s (a stalled or trickling server)")
    return buf.getvalue()


def _check_signature(p: Probe, base: str, data: bytes) -> None:
    import tempfile

    from ..assemble.signatures import pinned_keys
    from .metadata import check_repomd_signature
    src = p.source
    urls, pins = src.metadata_keys()
    with tempfile.TemporaryDirectory(prefix="wcbundle-sources-") as tmp:
        try:
            signer = check_repomd_signature(src.id, base, data, Path(tmp), pins,
                                            lambda: pinned_keys(f"repo '{src.id}'", urls, pins))
            p.notes.append(f"repomd.xml.asc: signed by {spaced(signer)}")
        except SignatureError as exc:
            p.fail("key-mismatch", exc.message)
        except FetchError as exc:
            p.fail("stale", exc.message)


def _check_repo_pins(session, p: Probe, base: str, root) -> None:
    from .metadata import join_url
    node = next((d for d in root.findall(REPO_NS + "data") if d.get("type") == "primary"), None)
    loc = node.find(REPO_NS + "location") if node is not None else None
    if loc is None or not loc.get("href"):
        p.fail("missing", "repomd.xml lists no primary metadata, so the pinned versions cannot be checked")
        return
    url = join_url(base, loc.get("href"))
    status, _, resp, err = _get(session, url, stream=True)
    if status != 200:
        p.fail("unreachable", f"primary metadata {url}: {err or status}")
        return
    try:
        raw = resp if isinstance(resp, bytes) else _read_capped(resp, PRIMARY_MAX_BYTES)
    except FetchError as exc:
        p.notes.append(f"primary metadata not read for the pin check: {exc.message}")
        return
    cks = node.find(REPO_NS + "checksum")
    if cks is not None and (cks.text or "").strip():
        algo = {"sha": "sha1"}.get(cks.get("type", "sha256"), cks.get("type", "sha256"))
        if hashlib.new(algo, raw).hexdigest() != cks.text.strip():
            p.fail("stale", f"primary metadata {url} does not match repomd.xml's checksum (a half-synced mirror)")
            return
    try:
        text = gzip.decompress(raw) if url.endswith(".gz") else lzma.decompress(raw) if url.endswith(".xz") else raw
    except (OSError, lzma.LZMAError) as exc:
        p.notes.append(f"primary metadata not read for the pin check: {exc}")
        return
    versions: dict[str, set[str]] = {}
    for _, el in ET.iterparse(io.BytesIO(text)):
        if el.tag == COMMON_NS + "package":
            name = el.findtext(COMMON_NS + "name") or ""
            ver = el.find(COMMON_NS + "version")
            if ver is not None:
                versions.setdefault(name, set()).add(ver.get("ver", ""))
            el.clear()
    for pin, want in p.source.pins.items():
        seen = sorted({v for vs in versions.values() for v in vs})
        hit = [n for n, vs in versions.items() if any(v == want or v.startswith(want + ".") for v in vs)]
        if hit:
            p.notes.append(f"pin {pin} {want}: present ({', '.join(sorted(hit)[:4])})")
        else:
            p.fail("missing", f"pin {pin} {want}: no package of that version here (versions seen: "
                              f"{', '.join(seen[-6:]) or 'none'})")


_RPM_NAME = re.compile(r"^(?P<name>.+)-(?P<version>[^-]+)-(?P<release>[^-]+)\.(?P<arch>[^.]+)\.rpm$")


def _check_direct(session, p: Probe) -> None:
    src = p.source
    url = src.urls[0]
    status, headers, _, err = _get(session, url, head=True)
    if status != 200:
        p.fail("unreachable", f"{url}: {err or 'HTTP ' + str(status)}")
    else:
        size = int(headers.get("Content-Length") or 0)
        if src.size and size != src.size:
            p.fail("missing", f"{url}: {size} bytes, the manifest expects {src.size} (the file was replaced?)")
        else:
            p.notes.append(f"reachable, {size} bytes" + (" as expected" if src.size else " (no size recorded)"))
    m = _RPM_NAME.match(url.rsplit("/", 1)[-1])
    for pin, want in src.pins.items():
        ver = m.group("version") if m else ""
        if ver == want or ver.startswith(want + "."):
            p.notes.append(f"pin {pin} {want}: the file is {ver}")
        else:
            p.fail("missing", f"pin {pin} {want}: the file is {ver or 'not a name-version-release.arch.rpm'}")


# -- output ---------------------------------------------------------------------------------

def describe(sources: list[Source], man: Manifest) -> str:
    lines: list[str] = []
    for el in sorted({s.el for s in sources}):
        conf = man.for_el(el)
        pins = ", ".join(f"{k} {v}" for k, v in conf.pins.items()) or "none"
        lines.append(f"EL{el} (pins: {pins})")
        for s in (x for x in sources if x.el == el):
            lines.append(f"  {s.kind} {s.id}" + ("  [repo-gpgcheck]" if s.repo_gpgcheck else ""))
            lines.extend(f"    {u}" for u in s.urls)
            if s.kind == "direct-rpm":
                lines.append(f"    roles {', '.join(s.roles)}; " + (f"sha256 {s.sha256}" if s.sha256 else
                                                                     "pinned by its signing key (no sha256)"))
            for k in s.gpgkeys:
                lines.append(f"    key {k}")
            lines.extend(f"      pinned {spaced(f)}" for f in s.fingerprints)
            if not s.fingerprints:
                lines.append("      pinned: NONE (a build that uses this source fails with exit 7)")
            for k in s.metadata_gpgkeys:
                lines.append(f"    metadata key {k} (repomd.xml.asc only; packages are checked with the keys above)")
            lines.extend(f"      pinned {pin_text(f)}" for f in s.metadata_pins)
    return "\n".join(lines)


def probe_line(p: Probe) -> str:
    s = p.source
    mark = {"ok": "ok  ", "unreachable": "FAIL", "stale": "FAIL", "missing": "FAIL", "key-mismatch": "KEY "}[p.verdict]
    return f"{mark} EL{s.el} {s.kind} {s.id}: {p.verdict}; " + "; ".join(n.rstrip(".") for n in p.notes)


def as_json(sources: list[Source], probes: list[Probe] | None) -> dict:
    out = {"sources": [asdict(s) for s in sources]}
    if probes is not None:
        for entry, p in zip(out["sources"], probes):
            entry["check"] = {"verdict": p.verdict, "notes": p.notes}
        out["exit_code"] = exit_code(probes)
    return out

