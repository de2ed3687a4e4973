"""A fault-injecting HTTP/1.1 mirror on 127.0.0.1, for tests and benchmarks.

Serves a directory with keep-alive and single Range requests (206 +
Content-Range), through a link model (one bandwidth cap shared by every
connection + a per-request latency), and answers requests whose path matches
a pattern with an injected fault (FAULT_KINDS). Faults can be set at start
and changed at runtime; every request is logged for assertions. Every stall
is bounded (`stall_seconds`) and stop() ends all threads.

    with Mirror(root, rate=12_500_000, latency=0.04) as m:
        m.set_fault("*/MariaDB-server-*.rpm", "reset", times=1)
        ... m.url ... m.log

CLI: python -m scripts.mirror --root DIR [--port 0] [--rate 100Mbit] [--latency 40ms]
     [--fault 'PATTERN=KIND[:TIMES]']...  prints its URL, serves until killed.
"""

from __future__ import annotations

import argparse
import fnmatch
import gzip
import lzma
import mmap
import os
import re
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

FAULT_KINDS = {
    "404": "answer 404 Not Found",
    "500": "answer 500 Internal Server Error",
    "reset": "send the headers and half the body, then reset the connection (RST)",
    "truncate": "announce the full length, send half the body, close (FIN)",
    "flip": "send the full body with one byte flipped (status and length correct)",
    "stall": "send the headers, then nothing until stall_seconds, then close",
    "stall-headers": "send nothing at all (not even a status line) until stall_seconds, then close",
    "trickle": "send the headers, then one byte per second until stall_seconds, then close",
    "wrong-length": "announce Content-Length + delta (default +1000), send the real body, close",
    "redirect-loop": "answer 302 to the same path with a new query, forever",
    "bad-metadata": "repomd.xml with mangled checksums; other files re-encoded so their checksum differs",
}
CHUNK = 16 * 1024


@dataclass
class Fault:
    pattern: str          # fnmatch glob on the URL path, e.g. "*.rpm" or "*/repodata/*primary*"
    kind: str
    times: int | None = None   # None: every matching request; else this many, then spent
    params: dict[str, Any] = field(default_factory=dict)

    def matches(self, path: str) -> bool:
        return fnmatch.fnmatchcase(path, self.pattern)


@dataclass
class LogEntry:
    method: str
    path: str
    range: str | None
    status: int
    bytes_sent: int
    fault: str | None
    seconds: float


class Link:
    """One shared pipe: `rate` bytes/s across all connections (None = unlimited)."""

    def __init__(self, rate: float | None):
        self.rate = rate
        self._lock = threading.Lock()
        self._free_at = 0.0

    def wait(self, nbytes: int, stop: threading.Event) -> None:
        if not self.rate:
            return
        with self._lock:
            start = max(time.monotonic(), self._free_at)
            self._free_at = start + nbytes / self.rate
            until = self._free_at
        delay = until - time.monotonic()
        if delay > 0:
            stop.wait(delay)


def parse_rate(text: str) -> float | None:
    """'100M' = 100 MB/s, '100Mbit' = 12.5 MB/s, '0'/'' = unlimited (SI multipliers)."""
    m = re.fullmatch(r"\s*([\d.]+)\s*([kKmMgG]?)(bit|bps|b|B)?\s*", text or "0")
    if not m:
        raise ValueError(f"bad rate {text!r}: use e.g. 100M (bytes/s) or 100Mbit")
    value = float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}[m.group(2).lower()]
    if m.group(3) in ("bit", "bps", "b"):
        value /= 8
    return value or None


def parse_duration(text: str) -> float:
    """'40ms', '0.04', '1s' -> seconds."""
    m = re.fullmatch(r"\s*([\d.]+)\s*(ms|s)?\s*", text)
    if not m:
        raise ValueError(f"bad duration {text!r}: use e.g. 40ms or 0.5s")
    return float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)


def _mangle_repomd(data: bytes) -> bytes:
    """Every <checksum>/<open-checksum> hex value reversed: still well-formed, never right."""
    return re.sub(rb"(<(?:open-)?checksum[^>]*>)([0-9a-f]+)(<)",
                  lambda m: m.group(1) + m.group(2)[::-1] + m.group(3), data)


def _reencode(path: str, data: bytes) -> bytes:
    """Same content, different bytes: compressed files are re-compressed with a comment inside."""
    mark = b"\n<!-- wcbundle mirror: tampered -->\n" if ".xml" in path else b"\n# wcbundle mirror: tampered\n"
    try:
        if path.endswith(".gz"):
            return gzip.compress(gzip.decompress(data) + mark, mtime=0)
        if path.endswith(".xz"):
            return lzma.compress(lzma.decompress(data) + mark)
    except (OSError, lzma.LZMAError):
        pass
    return data + mark


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out as separate small writes; with Nagle on, each response
    # waits ~40 ms for the client's delayed ACK, which a real mirror does not do.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass   # the structured log below replaces stderr noise

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def do_GET(self) -> None:
        self._serve(head=False)

    # --- plumbing --------------------------------------------------------------------
    def _send(self, data: bytes | memoryview) -> int:
        """Write through the link model; returns bytes written."""
        sent = 0
        mirror = self.server.mirror
        for i in range(0, len(data), CHUNK):
            piece = data[i:i + CHUNK]
            mirror.link.wait(len(piece), mirror.stop_event)
            if mirror.stop_event.is_set():
                break
            self.wfile.write(piece)
            sent += len(piece)
        self.wfile.flush()
        return sent

    def _simple(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
                head: bool = False) -> int:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return 0 if head else self._send(body)

    def _file(self, rel: str) -> Path | None:
        root = self.server.mirror.root
        target = (root / rel.lstrip("/")).resolve()
        if target != root and root not in target.parents:
            return None
        return target if target.is_file() else None

    def _serve(self, head: bool) -> None:
        mirror = self.server.mirror
        t0 = time.monotonic()
        url = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(url.path)
        rng = self.headers.get("Range")
        status, sent, kind = 0, 0, None
        try:
            if mirror.latency:
                mirror.stop_event.wait(mirror.latency)
            fault = mirror._take_fault(path)
            kind = fault.kind if fault else None
            status, sent = self._respond(path, rng, fault, head)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True
        finally:
            mirror._record(LogEntry(self.command, path, rng, status, sent, kind, time.monotonic() - t0))

    def _respond(self, path: str, rng: str | None, fault: Fault | None, head: bool) -> tuple[int, int]:
        kind = fault.kind if fault else None
        if kind == "stall-headers":
            self.close_connection = True
            self.server.mirror.stop_event.wait(self.server.mirror.stall_seconds)
            return 0, 0
        if kind in ("404", "500"):
            status = int(kind)
            return status, self._simple(status, f"{status} injected by wcbundle mirror\n".encode(), head=head)
        if kind == "redirect-loop":
            n = int(urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query).get("loop", ["0"])[0])
            loc = urllib.parse.quote(path) + f"?loop={n + 1}"
            return 302, self._simple(302, b"", {"Location": loc}, head=head)
        target = self._file(path)
        if target is None:
            return 404, self._simple(404, b"not found\n", head=head)
        data = _map(target)
        if kind == "bad-metadata":
            raw = bytes(data)
            data = memoryview(_mangle_repomd(raw) if path.endswith("repomd.xml") else _reencode(path, raw))
        status, start, end = 200, 0, len(data)
        extra: dict[str, str] = {"Accept-Ranges": "bytes"}
        if rng:
            parsed = _parse_range(rng, len(data))
            if parsed is None:
                return 416, self._simple(416, b"", {"Content-Range": f"bytes */{len(data)}"}, head=head)
            start, end = parsed
            status = 206
            extra["Content-Range"] = f"bytes {start}-{end - 1}/{len(data)}"
        body = data[start:end]
        if kind == "flip" and body:
            mid = len(body) // 2
            body = memoryview(bytes(body[:mid]) + bytes([body[mid] ^ 0xFF]) + bytes(body[mid + 1:]))
        length = len(body)
        if kind == "wrong-length":
            length = max(0, length + int(fault.params.get("delta", 1000)))
        self.send_response(status)
        for k, v in extra.items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        if kind in ("truncate", "reset", "stall", "trickle", "wrong-length"):
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if head:
            return status, 0
        return status, self._body(body, kind)

    def _body(self, body: memoryview, kind: str | None) -> int:
        mirror = self.server.mirror
        if kind in ("truncate", "reset"):
            sent = self._send(body[: len(body) // 2])
            if kind == "reset":
                # SO_LINGER 0 makes close() send RST instead of FIN.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
            return sent
        if kind == "stall":
            mirror.stop_event.wait(mirror.stall_seconds)
            return 0
        if kind == "trickle":
            sent, deadline = 0, time.monotonic() + mirror.stall_seconds
            while sent < len(body) and time.monotonic() < deadline and not mirror.stop_event.is_set():
                self.wfile.write(body[sent:sent + 1])
                self.wfile.flush()
                sent += 1
                mirror.stop_event.wait(1.0)
            return sent
        return self._send(body)


def _map(target: Path) -> memoryview:
    """The file's bytes without reading them all: big bundles stream from the page cache."""
    with open(target, "rb") as fh:
        if os.fstat(fh.fileno()).st_size == 0:
            return memoryview(b"")
        return memoryview(mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ))


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """A single 'bytes=a-b' / 'bytes=a-' / 'bytes=-n' range -> [start, end); None if unsatisfiable."""
    m = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header)
    if not m or (not m.group(1) and not m.group(2)):
        return None
    if not m.group(1):
        n = int(m.group(2))
        return (max(0, size - n), size) if n > 0 and size > 0 else None
    start = int(m.group(1))
    end = min(size, int(m.group(2)) + 1) if m.group(2) else size
    if start >= size or end <= start:
        return None
    return start, end


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    mirror: Mirror

    def process_request(self, request, client_address):  # type: ignore[override]
        request.settimeout(self.mirror.idle_timeout)   # idle keep-alive threads end on their own
        with self.mirror._lock:
            self.mirror._conns.add(request)
        super().process_request(request, client_address)

    def handle_error(self, request, client_address):  # type: ignore[override]
        if isinstance(sys.exc_info()[1], OSError):
            return   # a client that went away (or a fault we injected): not worth a traceback
        super().handle_error(request, client_address)

    def shutdown_request(self, request):  # type: ignore[override]
        with self.mirror._lock:
            self.mirror._conns.discard(request)
        super().shutdown_request(request)


class Mirror:
    """Serve `root` on 127.0.0.1:port (0 = ephemeral). See the module docstring."""

    def __init__(self, root: str | Path, *, rate: float | None = None, latency: float = 0.0,
                 faults: list[Fault] | None = None, host: str = "127.0.0.1", port: int = 0,
                 stall_seconds: float = 20.0, idle_timeout: float = 30.0):
        if not (host.startswith("127.") or host.startswith("198.18.0.")):
            raise ValueError(f"the mirror only binds loopback (or 198.18.0.0/24 in a netns), not {host}")
        self.root = Path(root).resolve()
        self.link = Link(rate)
        self.latency = latency
        self.stall_seconds = stall_seconds
        self.idle_timeout = idle_timeout
        self.stop_event = threading.Event()
        self._lock = threading.Lock()
        self._logged = threading.Condition(self._lock)
        self._faults: list[Fault] = list(faults or [])
        self._log: list[LogEntry] = []
        self._conns: set[socket.socket] = set()
        self._server = _Server((host, port), _Handler)
        self._server.mirror = self
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # --- faults and log ----------------------------------------------------------------
    def set_fault(self, pattern: str, kind: str, times: int | None = None, **params: Any) -> None:
        """Answer requests whose path matches `pattern` with `kind` (`times` requests, or all)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; known: {', '.join(sorted(FAULT_KINDS))}")
        with self._lock:
            self._faults.append(Fault(pattern, kind, times, params))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(path) and (fault.times is None or fault.times > 0):
                    if fault.times is not None:
                        fault.times -= 1
                    return fault
        return None

    def _record(self, entry: LogEntry) -> None:
        with self._logged:
            self._log.append(entry)
            self._logged.notify_all()

    def wait_requests(self, count: int, timeout: float = 10.0) -> list[LogEntry]:
        """The log once it holds `count` entries (a handler logs after its last byte, so a
        client can be done before the entry lands); raises TimeoutError after `timeout`."""
        with self._logged:
            if not self._logged.wait_for(lambda: len(self._log) >= count, timeout):
                raise TimeoutError(f"mirror logged {len(self._log)} requests, expected {count}")
            return list(self._log)

    @property
    def log(self) -> list[LogEntry]:
        with self._lock:
            return list(self._log)

    def requests_for(self, pattern: str) -> list[LogEntry]:
        return [e for e in self.log if fnmatch.fnmatchcase(e.path, pattern)]

    def reset_log(self) -> None:
        with self._lock:
            self._log.clear()

    @property
    def bytes_sent(self) -> int:
        return sum(e.bytes_sent for e in self.log)

    # --- lifecycle ---------------------------------------------------------------------
    def start(self) -> Mirror:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"mirror-{self.url}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()          # ends stalls, trickles and link waits
        self._server.shutdown()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:             # wake handlers blocked reading keep-alive requests
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Mirror:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m scripts.mirror", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="faults:\n" + "\n".join(f"  {k:14} {v}" for k, v in FAULT_KINDS.items()))
    p.add_argument("--root", required=True, help="directory to serve")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 = an ephemeral port (printed)")
    p.add_argument("--rate", default="0", help="shared bandwidth cap: 100M = 100 MB/s, 100Mbit = 12.5 MB/s")
    p.add_argument("--latency", default="0", help="per-request latency, e.g. 40ms")
    p.add_argument("--stall-seconds", type=float, default=20.0, help="bound of stall/trickle faults")
    p.add_argument("--fault", action="append", default=[], metavar="PATTERN=KIND[:TIMES]")
    args = p.parse_args(argv)
    try:
        faults = []
        for spec in args.fault:
            pattern, _, rest = spec.rpartition("=")
            kind, _, times = rest.partition(":")
            if not pattern or kind not in FAULT_KINDS:
                raise ValueError(f"bad --fault {spec!r}: PATTERN=KIND[:TIMES], KIND one of {sorted(FAULT_KINDS)}")
            faults.append(Fault(pattern, kind, int(times) if times else None))
        mirror = Mirror(args.root, rate=parse_rate(args.rate), latency=parse_duration(args.latency),
                        faults=faults, host=args.host, port=args.port, stall_seconds=args.stall_seconds)
    except (ValueError, OSError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    with mirror:
        print(mirror.url, flush=True)
        while not done.wait(1.0):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
