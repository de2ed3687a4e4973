"""The one HTTP transport: sessions, bounded retries with backoff, size caps, one proxy policy.

Every http(s) request of the builder goes through here (metadata, packages, GPG keys, direct
RPMs, `sources --check`); this is the only module that imports requests, and it is imported
lazily by metadata.py, so a warm resolve or a file:// repo never loads it.

Proxy policy (the same for metadata, packages and keys): the standard environment variables
`http_proxy`, `https_proxy`, `all_proxy` and `no_proxy` (either case), read per request the
way curl and dnf read them. Nothing else is taken from the environment: the session's
`trust_env` is off, so no ~/.netrc credentials are sent and no CA bundle variable changes what
is trusted.

Retries: `get()` makes at most `attempts` tries, each bounded by `timeout` (connect, read),
with a growing pause between tries, and starts no try after `window` seconds. Connection
errors, timeouts, 5xx, 408 and 429 are retried; other statuses will not get better and end
the tries at once. Bodies are read with `copy_capped()`, which stops at a size cap.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import IO, Any

import requests
import urllib3
from requests.utils import get_environ_proxies

from .neterrors import network_reason

# What a failed request or a body cut off mid-way raises (for `except` clauses elsewhere).
RequestException = requests.RequestException
TooManyRedirects = requests.TooManyRedirects
TRANSFER_ERRORS = (requests.RequestException, urllib3.exceptions.HTTPError)
Response = requests.Response


class Session(requests.Session):
    """A requests.Session whose only input from the environment is the proxy variables."""

    def __init__(self, agent: str = "wcbundle", identity: bool = True):
        super().__init__()
        self.trust_env = False
        self.headers["User-Agent"] = agent
        if identity:
            # the bytes as published: checksums (repomd, lock) and Range offsets are over the file itself
            self.headers["Accept-Encoding"] = "identity"

    def request(self, method, url, *args, **kwargs):  # noqa: D401 - requests' signature
        if kwargs.get("proxies") is None:
            kwargs["proxies"] = proxies_for(url)
        return super().request(method, url, *args, **kwargs)


def proxies_for(url: str) -> dict[str, str]:
    """The proxy for `url` from http_proxy/https_proxy/all_proxy, or none when no_proxy matches."""
    return get_environ_proxies(url)


def retryable(status: int) -> bool:
    return status >= 500 or status in (408, 429)


def get(session: Session, url: str, *, attempts: int, timeout: Any, window: float | None = None,
        headers: dict | None = None, stream: bool = True, ok=(200,),
        pause: float = 0.5) -> tuple[Response | None, list[str]]:
    """GET with bounded retries -> (response, outcomes) or (None, outcomes).

    `outcomes` holds one short reason per failed try ("HTTP 503", "connection refused: ...").
    A returned response has a status in `ok`; the caller reads and closes it.
    """
    deadline = time.monotonic() + window if window is not None else None
    outcomes: list[str] = []
    for attempt in range(1, attempts + 1):
        try:
            resp = session.get(url, headers=headers or None, timeout=timeout, stream=stream)
        except requests.RequestException as exc:
            outcomes.append(network_reason(exc))
        else:
            if resp.status_code in ok:
                return resp, outcomes
            resp.close()
            outcomes.append(f"HTTP {resp.status_code}")
            if not retryable(resp.status_code):
                break
        wait = pause * attempt
        if attempt == attempts or (deadline is not None and time.monotonic() + wait > deadline):
            break
        time.sleep(wait)
    return None, outcomes


class TooLarge(Exception):
    """A body went past its size cap (the caller says what the cap was for)."""


def chunks(resp: Response, size: int = 1 << 20) -> Iterator[bytes]:
    """The body as published (no content decoding), as it arrives."""
    raw = resp.raw
    read1 = getattr(raw, "read1", None)
    if read1 is None:  # urllib3 1.x
        yield from resp.iter_content(size)
        return
    while True:
        chunk = read1(size)
        if not chunk:
            return
        yield chunk


def copy_capped(resp: Response, out: IO[bytes], limit: int | None, hasher: Any = None) -> int:
    """Copy the body into `out` (and `hasher`); TooLarge once more than `limit` bytes came."""
    got = 0
    for chunk in chunks(resp):
        got += len(chunk)
        if limit is not None and got > limit:
            raise TooLarge(f"more than {limit} bytes")
        if hasher is not None:
            hasher.update(chunk)
        out.write(chunk)
    return got
