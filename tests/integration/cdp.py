"""A minimal Chrome DevTools Protocol client over --remote-debugging-pipe (no websocket, no extra package).

Chromium reads NUL-terminated JSON commands on fd 3 and writes NUL-terminated replies and
events on fd 4. Used by test_report_chromium to render the report in screen and in print
layout (emulated print media at the A4 landscape width), measure the laid-out page from
inside it, and take screenshots. Every wait is bounded in time.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import subprocess
import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--host-resolver-rules=MAP * ~NOTFOUND",
         "--proxy-server=127.0.0.1:9", "--hide-scrollbars"]

# A4 landscape at CSS 96 dpi: 297 mm x 210 mm; the report's @page margin is 10 mm, so a printed
# page's content box is 277 mm x 190 mm
A4_LANDSCAPE_PX = (1123, 794)
A4_LANDSCAPE_CONTENT_PX = (1047, 718)


class Browser:
    """One headless Chromium with a fresh profile; `with Browser(tmp) as b: b.open(url) ...`."""

    def __init__(self, profile: Path, timeout: float = 60.0):
        self.profile, self.timeout = profile, timeout
        self.proc: subprocess.Popen | None = None
        self._next = 0
        self._buf = b""
        self.session: str | None = None

    def __enter__(self) -> Browser:
        to_chrome_r, self._w = os.pipe()
        self._r, from_chrome_w = os.pipe()

        def fds_3_and_4() -> None:  # in the child: the pipe ends on the fd numbers Chromium expects
            high_r = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)
            high_w = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        self.proc = subprocess.Popen(  # noqa: S603, PLW1509 - argv list, no shell; no threads in the child
            [CHROMIUM, *FLAGS, f"--user-data-dir={self.profile}", "--remote-debugging-pipe", "about:blank"],
            close_fds=False, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, preexec_fn=fds_3_and_4)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        targets = self.call("Target.getTargets", session=False)["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.call("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True},
                                 session=False)["sessionId"]
        self.call("Page.enable")
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.call("Browser.close", session=False)
        except Exception:  # noqa: BLE001 - closing anyway
            pass
        if self.proc is not None:
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()  # our own child, by its Popen handle
                self.proc.wait(timeout=15)
        os.close(self._w)
        os.close(self._r)

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from Chromium within the time limit")
            ready, _, _ = select.select([self._r], [], [], left)
            if ready:
                chunk = os.read(self._r, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed the debugging pipe")
                self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, params: dict | None = None, session: bool = True) -> dict:
        self._next += 1
        msg = {"id": self._next, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def wait_event(self, method: str) -> dict:
        deadline = time.monotonic() + self.timeout
        while True:
            msg = self._read_message(deadline)
            if msg.get("method") == method:
                return msg.get("params", {})

    def open(self, url: str, width: int, height: int, media: str = "screen") -> None:
        """Load url in a viewport of width x height CSS px with the given CSS media type."""
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        self.call("Emulation.setEmulatedMedia", {"media": media})
        self.call("Page.navigate", {"url": url})
        self.wait_event("Page.loadEventFired")

    def evaluate(self, expression: str):
        res = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in res:
            raise RuntimeError(f"page script failed: {res['exceptionDetails']}")
        return res["result"].get("value")

    def screenshot(self, path: Path) -> None:
        """The whole page (beyond the viewport) as a PNG."""
        width, height = self.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
        data = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True,
                                                    "clip": {"x": 0, "y": 0, "width": width, "height": height,
                                                             "scale": 1}})["data"]
        path.write_bytes(base64.b64decode(data))

    def screenshot_of(self, selector: str, path: Path, pad: int = 8) -> None:
        """The first element matching a CSS selector, as a PNG (for looking at one part of the page)."""
        x, y, w, h = self.evaluate(
            f"(() => {{ const r = document.querySelector({json.dumps(selector)}).getBoundingClientRect();"
            " return [r.left + scrollX, r.top + scrollY, r.width, r.height]; })()")
        data = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True,
                                                    "clip": {"x": max(0, x - pad), "y": max(0, y - pad),
                                                             "width": w + 2 * pad, "height": h + 2 * pad,
                                                             "scale": 1}})["data"]
        path.write_bytes(base64.b64decode(data))

    def pdf(self, path: Path) -> None:
        """Print to PDF with the page's own @page rules (size, margins)."""
        data = self.call("Page.printToPDF", {"preferCSSPageSize": True, "printBackground": True})["data"]
        path.write_bytes(base64.b64decode(data))
