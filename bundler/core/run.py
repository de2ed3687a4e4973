"""One way to run a subprocess: argv lists only, errors that say what failed.

No shell is ever involved. A missing tool becomes an EnvironmentProblem that says which
Debian/EL package provides it; a tool that fails is a CommandFailed (exit 8) carrying its
stderr. Every external command of the builder (rpmkeys, gpg, createrepo_c, modifyrepo_c,
zstd, dot) goes through `run()`: docs/design.md says why it is subprocess and not `sh`.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence

from .errors import CommandFailed, EnvironmentProblem

__all__ = ["CommandFailed", "TOOL_PACKAGES", "run", "which"]

log = logging.getLogger("wcbundle")

# Which package provides a tool, for the "how to install it" hint.
TOOL_PACKAGES = {
    "rpm": "rpm (Debian: apt-get install rpm; EL: dnf install rpm)",
    "rpmkeys": "rpm (Debian: apt-get install rpm; EL: dnf install rpm)",
    "rpmbuild": "rpm (Debian: apt-get install rpm; EL: dnf install rpm-build)",
    "rpmsign": "rpm (Debian: apt-get install rpm; EL: dnf install rpm-sign)",
    "gpg": "gnupg (apt-get install gnupg / dnf install gnupg2)",
    "gpgv": "gpgv (apt-get install gpgv / dnf install gnupg2)",
    "dot": "graphviz (apt-get install graphviz / dnf install graphviz)",
    "createrepo_c": "the createrepo_c wheel (pip install createrepo_c; on Python 3.9: 'createrepo_c<=1.2.2', "
                    "the newest with cp39 wheels) or the host's package (dnf install createrepo_c / "
                    "apt-get install createrepo-c), either one on PATH",
    "modifyrepo_c": "the createrepo_c wheel (pip install createrepo_c; on Python 3.9: 'createrepo_c<=1.2.2') "
                    "or the host's createrepo_c package, either one on PATH",
    "dnf": "dnf (apt-get install dnf)",
}


def which(tool: str) -> str:
    """Absolute path of `tool`, or an EnvironmentProblem naming its package."""
    path = shutil.which(tool)
    if not path:
        pkg = TOOL_PACKAGES.get(tool, tool)
        raise EnvironmentProblem(f"required tool '{tool}' was not found on PATH.",
                                 hint=f"Install it: {pkg}.")
    return path


def run(argv: Sequence[str], *, check: bool = True, env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None, input: bytes | None = None,
        timeout: float | None = None, capture: bool = True) -> subprocess.CompletedProcess:
    """Run argv (a list; the first item is looked up on PATH) and return the result.

    stdout/stderr are captured as text unless capture=False. On a non-zero exit
    with check=True a CommandFailed is raised holding the command and its stderr.
    """
    argv = [str(a) for a in argv]
    argv[0] = which(argv[0]) if os.sep not in argv[0] else argv[0]
    full_env = None
    if env is not None:
        full_env = dict(os.environ)
        full_env.update(env)
    log.debug("run: %s", " ".join(argv))
    try:
        proc = subprocess.run(  # noqa: S603 - argv list, no shell
            argv, env=full_env, cwd=cwd, input=input, timeout=timeout,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.PIPE if capture else None,
        )
    except subprocess.TimeoutExpired as exc:
        raise CommandFailed(argv, -1, "", message=f"command timed out after {timeout}s: {' '.join(argv)}") from exc
    out = proc.stdout.decode("utf-8", "replace") if capture and proc.stdout is not None else ""
    err = proc.stderr.decode("utf-8", "replace") if capture and proc.stderr is not None else ""
    result = subprocess.CompletedProcess(argv, proc.returncode, out, err)
    if check and proc.returncode != 0:
        log.debug("failed (%d): %s\n%s", proc.returncode, " ".join(argv), err)
        raise CommandFailed(argv, proc.returncode, err)
    return result
