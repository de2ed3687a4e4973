"""Minimal AMQP 0-9-1 client for the cluster lab: login check, publish with confirms, drain.

Debian's RabbitMQ ships no client that publishes with publisher confirms
(`rabbitmqadmin` publishes over HTTP without them), and pika would be a new
dependency for a single lab step, so this speaks just enough of the protocol
(spec: amqp0-9-1.xml) over a stdlib socket. Passwords come from the environment
(AMQP_PASSWORD), never from argv, and are never printed.

  amqp_confirm.py check   --addresses h1:5672,h2:5672 --user U [--vhost /]
  amqp_confirm.py publish --addresses ... --user U --queue Q --type quorum|classic
                          --count N --confirmed FILE [--window 50] [--stop-file FILE] [--times FILE]
  amqp_confirm.py drain   --addresses ... --user U --queue Q --confirmed FILE

Every command prints one JSON object on stdout and exits 0 only on success.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import struct
import sys
import time

FRAME_METHOD, FRAME_HEADER, FRAME_BODY, FRAME_HEARTBEAT = 1, 2, 3, 8
FRAME_END = b"\xce"


class AmqpError(Exception):
    """A protocol-level refusal (Connection.Close / Channel.Close) or a broken connection."""


def shortstr(s: str) -> bytes:
    b = s.encode()
    return struct.pack("!B", len(b)) + b


def longstr(b: bytes) -> bytes:
    return struct.pack("!I", len(b)) + b


def table(d: dict) -> bytes:
    out = b""
    for k, v in d.items():
        out += shortstr(k)
        if isinstance(v, bool):
            out += b"t" + struct.pack("!B", int(v))
        elif isinstance(v, dict):
            out += b"F" + table(v)
        else:
            out += b"S" + longstr(str(v).encode())
    return longstr(out)


def read_shortstr(buf: bytes, pos: int) -> tuple[str, int]:
    n = buf[pos]
    return buf[pos + 1:pos + 1 + n].decode(), pos + 1 + n


class Connection:
    """One connection with one channel (channel 1)."""

    def __init__(self, host: str, port: int, user: str, password: str, vhost: str, timeout: float = 10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.sock.sendall(b"AMQP\x00\x00\x09\x01")
        self.expect(0, 10, 10)                                   # Connection.Start
        self.method(0, 10, 11, table({"product": "wcbundle-lab", "capabilities": {"publisher_confirms": True}})
                    + shortstr("PLAIN") + longstr(b"\0" + user.encode() + b"\0" + password.encode())
                    + shortstr("en_US"))
        args = self.expect(0, 10, 30)                            # Connection.Tune
        channel_max, frame_max, _heartbeat = struct.unpack("!HIH", args[:8])
        self.frame_max = frame_max or 131072
        self.method(0, 10, 31, struct.pack("!HIH", channel_max, self.frame_max, 0))
        self.method(0, 10, 40, shortstr(vhost) + shortstr("") + b"\x00")
        self.expect(0, 10, 41)                                   # Connection.OpenOk
        self.method(1, 20, 10, shortstr(""))
        self.expect(1, 20, 11)                                   # Channel.OpenOk

    def send_frame(self, ftype: int, channel: int, payload: bytes) -> None:
        self.sock.sendall(struct.pack("!BHI", ftype, channel, len(payload)) + payload + FRAME_END)

    def method(self, channel: int, cls: int, meth: int, args: bytes = b"") -> None:
        self.send_frame(FRAME_METHOD, channel, struct.pack("!HH", cls, meth) + args)

    def _recv(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AmqpError("connection closed by peer")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_frame(self) -> tuple[int, int, bytes]:
        ftype, channel, size = struct.unpack("!BHI", self._recv(7))
        payload = self._recv(size)
        if self._recv(1) != FRAME_END:
            raise AmqpError("bad frame end")
        return ftype, channel, payload

    def read_method(self) -> tuple[int, int, int, bytes]:
        while True:
            ftype, channel, payload = self.read_frame()
            if ftype == FRAME_HEARTBEAT:
                continue
            if ftype != FRAME_METHOD:
                raise AmqpError(f"unexpected frame type {ftype}")
            cls, meth = struct.unpack("!HH", payload[:4])
            args = payload[4:]
            if (cls, meth) in ((10, 50), (20, 40)):                # Connection.Close / Channel.Close
                code = struct.unpack("!H", args[:2])[0]
                text, _ = read_shortstr(args, 2)
                raise AmqpError(f"server closed: {code} {text}")
            return channel, cls, meth, args

    def expect(self, channel: int, cls: int, meth: int) -> bytes:
        ch, c, m, args = self.read_method()
        if (ch, c, m) != (channel, cls, meth):
            raise AmqpError(f"expected {cls}.{meth}, got {c}.{m}")
        return args

    def queue_declare(self, queue: str, qtype: str) -> None:
        args = {"x-queue-type": "quorum"} if qtype == "quorum" else {}
        self.method(1, 50, 10, struct.pack("!H", 0) + shortstr(queue) + b"\x02" + table(args))  # durable
        self.expect(1, 50, 11)

    def confirm_select(self) -> None:
        self.method(1, 85, 10, b"\x00")
        self.expect(1, 85, 11)

    def publish(self, queue: str, body: bytes) -> None:
        self.method(1, 60, 40, struct.pack("!H", 0) + shortstr("") + shortstr(queue) + b"\x00")
        # content header: class 60, weight 0, size, flags = delivery-mode present, delivery-mode 2
        self.send_frame(FRAME_HEADER, 1, struct.pack("!HHQH", 60, 0, len(body), 0x1000) + b"\x02")
        self.send_frame(FRAME_BODY, 1, body)

    def get(self, queue: str) -> bytes | None:
        self.method(1, 60, 70, struct.pack("!H", 0) + shortstr(queue) + b"\x01")        # no-ack
        _, _, meth, _ = self.read_method()
        if meth == 72:                                                                   # Get-Empty
            return None
        _, _, header = self.read_frame()
        size = struct.unpack("!Q", header[4:12])[0]
        body = b""
        while len(body) < size:
            body += self.read_frame()[2]
        return body

    def close(self) -> None:
        try:
            self.method(0, 10, 50, struct.pack("!H", 200) + shortstr("bye") + struct.pack("!HH", 0, 0))
            self.expect(0, 10, 51)
        except (OSError, AmqpError):
            pass
        self.sock.close()


def connect_any(addresses: list[str], user: str, password: str, vhost: str, start: int = 0):
    """Try the addresses in order from `start`; return (index, connection)."""
    errors = []
    for k in range(len(addresses)):
        i = (start + k) % len(addresses)
        host, _, port = addresses[i].rpartition(":")
        try:
            return i, Connection(host, int(port), user, password, vhost)
        except (OSError, AmqpError) as e:
            errors.append(f"{addresses[i]}: {e}")
    raise AmqpError("no address accepted the login: " + "; ".join(errors))


def cmd_check(a, password: str) -> dict:
    results = {}
    for addr in a.addresses:
        host, _, port = addr.rpartition(":")
        try:
            Connection(host, int(port), a.user, password, a.vhost).close()
            results[addr] = "ok"
        except (OSError, AmqpError) as e:
            results[addr] = f"refused: {e}"
    return {"ok": all(v == "ok" for v in results.values()), "addresses": results}


def cmd_publish(a, password: str) -> dict:
    """Publish ids 1..count with confirms, at least once: a nacked id or one unconfirmed when its
    connection broke is published again. Each confirmed id is appended to a.confirmed at once, and
    the time it was confirmed (epoch seconds) to a.times (the rolling upgrade's publish gaps)."""
    out = open(a.confirmed, "a", encoding="ascii")  # noqa: SIM115 (appended to for the whole run)
    times = open(a.times, "a", encoding="ascii")  # noqa: SIM115 (as above)
    nxt, confirmed, nacks, republished, reconnects, idx = 1, 0, 0, 0, 0, 0
    retry: list[int] = []
    deadline = time.monotonic() + a.max_seconds

    def work_left() -> bool:
        # --stop-file: publish no new id once it exists (ids already sent are still confirmed or retried)
        return bool(retry) or (nxt <= a.count and not (a.stop_file and os.path.exists(a.stop_file)))

    while work_left():
        if time.monotonic() > deadline:
            raise AmqpError(f"publish: out of time with {len(retry) + a.count - nxt + 1} ids unconfirmed")
        try:
            idx, conn = connect_any(a.addresses, a.user, password, a.vhost, idx)
        except AmqpError:
            time.sleep(1)
            reconnects += 1
            continue
        pending: dict[int, int] = {}                       # delivery tag -> message id
        try:
            conn.queue_declare(a.queue, a.type)
            conn.confirm_select()
            tag = 0
            while work_left() or pending:
                while work_left() and len(pending) < a.window:
                    if retry:
                        mid = retry.pop(0)
                        republished += 1
                    else:
                        mid, nxt = nxt, nxt + 1
                    tag += 1
                    pending[tag] = mid                     # tracked before sending: a send that
                    conn.publish(a.queue, str(mid).encode())  # breaks re-queues it for retry
                    if a.delay:
                        time.sleep(a.delay)
                _, _, meth, args = conn.read_method()
                if meth not in (80, 120):                  # Basic.Ack / Basic.Nack
                    continue
                dtag, flags = struct.unpack("!QB", args[:9])
                tags = sorted(t for t in pending if t <= dtag) if flags & 1 else [dtag]
                for t in tags:
                    mid = pending.pop(t, None)
                    if mid is None:
                        continue
                    if meth == 80:
                        out.write(f"{mid}\n")
                        times.write(f"{time.time():.6f}\n")
                        confirmed += 1
                    else:
                        nacks += 1
                        retry.append(mid)
                out.flush()
                times.flush()
            conn.close()
        except (OSError, AmqpError):
            conn.sock.close()
            retry.extend(sorted(pending.values()))
            reconnects += 1
            idx += 1
            time.sleep(0.5)
    out.close()
    times.close()
    return {"ok": True, "ids": nxt - 1, "confirmed": confirmed, "nacks": nacks,
            "republished": republished, "reconnects": reconnects}


def cmd_drain(a, password: str) -> dict:
    with open(a.confirmed, encoding="ascii") as f:
        expected = {int(x) for x in f.read().split()}
    _, conn = connect_any(a.addresses, a.user, password, a.vhost)
    got: set[int] = set()
    deadline = time.monotonic() + a.max_seconds
    while time.monotonic() < deadline:
        body = conn.get(a.queue)
        if body is None:
            break
        got.add(int(body))
    conn.close()
    lost = sorted(expected - got)
    return {"ok": not lost, "confirmed": len(expected), "consumed": len(got), "lost": len(lost),
            "lost_sample": lost[:10]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("command", choices=["check", "publish", "drain"])
    p.add_argument("--addresses", required=True, type=lambda s: [x for x in s.split(",") if x])
    p.add_argument("--user", required=True)
    p.add_argument("--vhost", default="/")
    p.add_argument("--queue", default="wcb-lab")
    p.add_argument("--type", choices=["quorum", "classic"], default="classic")
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--window", type=int, default=50)
    p.add_argument("--delay", type=float, default=0.0, help="seconds between publishes")
    p.add_argument("--confirmed", default="/dev/null")
    p.add_argument("--times", default="/dev/null", help="publish: append each confirm's time (epoch s)")
    p.add_argument("--max-seconds", type=float, default=120.0)
    p.add_argument("--stop-file", default="", help="publish: stop taking new ids once this file exists")
    a = p.parse_args(argv)
    password = os.environ.get("AMQP_PASSWORD")
    if password is None:
        print(json.dumps({"ok": False, "error": "AMQP_PASSWORD is not set"}))
        return 2
    try:
        result = {"check": cmd_check, "publish": cmd_publish, "drain": cmd_drain}[a.command](a, password)
    except (OSError, AmqpError) as e:
        result = {"ok": False, "error": str(e)}
    print(json.dumps(result, sort_keys=True))
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
