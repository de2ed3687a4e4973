"""Network failures in words: what happened, and what to check (never a Python class name).

`network_reason(exc)` walks the exception's chain (requests wraps urllib3, which wraps
the socket error) and names the first cause it knows. It matches class names along
each exception's MRO instead of importing requests, so the file:// paths of
metadata.py keep not importing requests at all.
"""

from __future__ import annotations

import errno

# (class name, words), most specific first: the first name found anywhere in the chain wins.
# urllib3's ConnectTimeoutError is left out on purpose: its NewConnectionError (refused, name
# not found) inherits from it; requests turns a real connect timeout into ConnectTimeout.
_BY_CLASS = (
    ("NameResolutionError", "host name not found: check the host name in the URL, and this host's DNS "
                            "or /etc/hosts"),
    ("gaierror", "host name not found: check the host name in the URL, and this host's DNS or /etc/hosts"),
    ("SSLCertVerificationError", "the server's TLS certificate was not accepted: check the host name in "
                                 "the URL and the system's CA certificates"),
    ("SSLError", "TLS handshake failed: check that the URL's scheme and port match the server "
                 "(https:// on a plain-http port fails like this)"),
    ("ConnectionRefusedError", "connection refused: nothing listens on that host and port; check the URL's "
                               "port and that the mirror is running"),
    ("ConnectionResetError", "connection reset by the server or a device on the way"),
    ("ConnectTimeout", "no answer to the connection within the timeout: check the host and port, "
                       "and any firewall or proxy on the way"),
    ("ReadTimeout", "read timeout: the server stopped sending"),
    ("ReadTimeoutError", "read timeout: the server stopped sending"),
    ("TooManyRedirects", "too many redirects: check the URL (it may point at a login or error page)"),
    ("ConnectionAbortedError", "connection aborted"),
    ("IncompleteRead", "connection closed before the whole body arrived"),
    ("RemoteDisconnected", "the server closed the connection without answering"),
    ("TimeoutError", "no answer within the timeout: check the host and port, and any firewall or proxy "
                     "on the way"),
    ("timeout", "no answer within the timeout: check the host and port, and any firewall or proxy "
                "on the way"),
)

_BY_ERRNO = {
    errno.ECONNREFUSED: "connection refused: nothing listens on that host and port; check the URL's port "
                        "and that the mirror is running",
    errno.EHOSTUNREACH: "no route to the host: check the address and this host's network",
    errno.ENETUNREACH: "network unreachable: check this host's network and routes",
    errno.ETIMEDOUT: "no answer within the timeout: check the host and port, and any firewall or proxy "
                     "on the way",
    errno.ECONNRESET: "connection reset by the server or a device on the way",
}


def _chain(exc: BaseException) -> list[BaseException]:
    seen: set[int] = set()
    out: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        out.append(cur)
        nxt = cur.__cause__ or cur.__context__
        if nxt is None:  # requests/urllib3 keep the cause in args (ProtocolError("...", exc)) or .reason
            nxt = next((a for a in cur.args if isinstance(a, BaseException)), None)
        if nxt is None and isinstance(getattr(cur, "reason", None), BaseException):
            nxt = cur.reason
        cur = nxt
    return out


def network_reason(exc: BaseException) -> str:
    """A short, human reason for a failed request, with what to check when that helps."""
    chain = _chain(exc)
    names = {k.__name__ for cur in chain for k in type(cur).__mro__}
    for name, words in _BY_CLASS:
        if name in names:
            return words
    for cur in chain:
        if isinstance(cur, OSError) and cur.errno in _BY_ERRNO:
            return _BY_ERRNO[cur.errno]
    for cur in reversed(chain):
        if isinstance(cur, OSError) and cur.strerror:
            return cur.strerror[:1].lower() + cur.strerror[1:]
    text = str(exc).strip() or "no detail"
    return "network error: " + (text[:120] + "..." if len(text) > 120 else text)
