"""The one in-process CLI runner: `wcb(*argv)` -> Result(code, out, err).

It runs bundler.cli.main (the real entry point, with its error -> exit code mapping) inside
click's CliRunner isolation, so stdout and stderr are captured separately exactly as the user
would see them, and the environment can be overridden for the call."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from bundler.cli import main

__all__ = ["Result", "assert_clean_error", "snapshot", "wcb"]


@dataclass
class Result:
    code: int
    out: str
    err: str

    def __iter__(self):  # rc, out, err = wcb(...)
        return iter((self.code, self.out, self.err))


def _runner() -> CliRunner:
    try:
        return CliRunner(mix_stderr=False)  # click 8.1
    except TypeError:
        return CliRunner()                  # click >= 8.2: stderr is always separate


def wcb(*argv: str, env: dict[str, str | None] | None = None, input: str | None = None) -> Result:
    with _runner().isolation(input=input, env=env) as streams:
        code = main([str(a) for a in argv])
        out, err = streams[0], streams[1]
        return Result(code, out.getvalue().decode("utf-8", "replace"),
                      err.getvalue().decode("utf-8", "replace") if err is not None else "")


def assert_clean_error(code: int, err: str, want_code: int, *needles: str) -> str:
    """Bad input (issue 7): the documented exit code, no traceback, one paragraph naming `needles`."""
    assert code == want_code, err
    assert "Traceback" not in err and "Internal error" not in err, err
    msg = err[err.index("Error:"):] if "Error:" in err else err
    for n in needles:
        assert n in msg, msg
    # one paragraph: the message and at most a hint line, no dump
    assert len(msg.strip().splitlines()) <= 4, msg
    return msg


def snapshot(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*")} if path.exists() else set()
