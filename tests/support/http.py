"""HTTP test servers on 127.0.0.1: the Mirror (scripts/mirror.py) and a forwarding proxy."""

from __future__ import annotations

import http.client
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from scripts.mirror import Mirror

__all__ = ["ForwardProxy", "Mirror", "serve"]


def serve(root: str | Path, **kwargs) -> Mirror:
    """A Mirror serving `root`: `with serve(root) as m: ... m.url ... m.log` (started on enter)."""
    return Mirror(root, **kwargs)


class ForwardProxy:
    """A real HTTP forward proxy on 127.0.0.1: it accepts absolute-URI requests
    (`GET http://host/path`), logs each URL, and forwards it to `upstream` (a base URL on
    127.0.0.1) whatever host the URL names, so tests can use names that do not resolve
    (`*.invalid`) and prove the request went through the proxy. No CONNECT (https)."""

    def __init__(self, upstream: str):
        self.log: list[str] = []
        up = urllib.parse.urlsplit(upstream)
        log = self.log

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):  # noqa: N802 - http.server's naming
                log.append(self.path)
                target = urllib.parse.urlsplit(self.path)
                if not target.scheme:  # not a proxy request
                    self.send_response(400)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                conn = http.client.HTTPConnection(up.hostname, up.port, timeout=10)
                try:
                    headers = {k: v for k, v in self.headers.items()
                               if k.lower() not in ("proxy-connection", "connection", "host")}
                    path = target.path + (f"?{target.query}" if target.query else "")
                    conn.request("GET", path, headers=headers)
                    resp = conn.getresponse()
                    body = resp.read()
                    self.send_response(resp.status)
                    for k, v in resp.getheaders():
                        if k.lower() not in ("connection", "keep-alive", "transfer-encoding", "content-length"):
                            self.send_header(k, v)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                finally:
                    conn.close()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def __enter__(self) -> ForwardProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
