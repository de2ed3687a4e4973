"""The one error hierarchy of the builder, and the exit code of each kind.

Library code raises these; only bundler.cli turns them into a message and an
exit code. A message is one paragraph: what went wrong, where, what to do.
"""

from __future__ import annotations

# Exit codes of `wcbundle` (documented in --help and the README).
EXIT_OK = 0
EXIT_INTERNAL = 1      # a bug: run again with --debug and report the traceback
EXIT_USAGE = 2         # bad command line (click's own code for usage errors)
EXIT_INPUT = 3         # invalid manifest, site, baseline capture or option value
EXIT_RESOLVE = 4       # unknown package, unsatisfiable requirement, incompatible pins
EXIT_FETCH = 5         # metadata or package download failed, checksum mismatch
EXIT_INTEGRITY = 6     # bundle verification failed (tampered, truncated, hostile)
EXIT_SIGNATURE = 7     # a GPG signature is missing, bad or from the wrong key
EXIT_ENVIRONMENT = 8   # missing tool, full disk, unwritable output

EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_INTERNAL: "internal error (rerun with --debug and report it)",
    EXIT_USAGE: "usage error",
    EXIT_INPUT: "invalid input (manifest, site, baseline, option)",
    EXIT_RESOLVE: "dependency resolution failed",
    EXIT_FETCH: "download or metadata verification failed",
    EXIT_INTEGRITY: "bundle integrity check failed",
    EXIT_SIGNATURE: "signature check failed",
    EXIT_ENVIRONMENT: "environment problem (missing tool, disk full)",
}


class WcbundleError(Exception):
    """Base class. `hint` says what the user should do about it."""

    exit_code = EXIT_INTERNAL

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def render(self) -> str:
        text = self.message.rstrip()
        if self.hint:
            text += "\n" + self.hint.rstrip()
        return text


class UsageProblem(WcbundleError):
    """The command line names something that is not there (e.g. a bundle path that does not exist)."""

    exit_code = EXIT_USAGE


class InputError(WcbundleError):
    """Invalid user input: manifest, site file, baseline capture, option value."""

    exit_code = EXIT_INPUT

    def __init__(self, message: str, hint: str | None = None, *, path: str | None = None,
                 line: int | None = None, column: int | None = None, key: str | None = None):
        where = []
        if path:
            loc = str(path)
            if line is not None:
                loc += f":{line}"
                if column is not None:
                    loc += f":{column}"
            where.append(loc)
        if key:
            where.append(f"at '{key}'")
        prefix = (" ".join(where) + ": ") if where else ""
        super().__init__(prefix + message, hint)
        self.path, self.line, self.column, self.key = path, line, column, key


class ManifestError(InputError):
    """The manifest is malformed or inconsistent."""


class SiteError(InputError):
    """The site file is malformed or describes an impossible topology."""


class ResolveError(WcbundleError):
    """The solver could not produce a closure (problems + why-chain in the message)."""

    exit_code = EXIT_RESOLVE


class CompatError(ResolveError):
    """Pinned versions do not fit together (e.g. Erlang vs RabbitMQ)."""


class FetchError(WcbundleError):
    """A download or a metadata file failed for good (every URL tried is named)."""

    exit_code = EXIT_FETCH


class IntegrityError(WcbundleError):
    """A bundle, an archive member or a cached file is not what it claims to be."""

    exit_code = EXIT_INTEGRITY


class SignatureError(WcbundleError):
    """A signature is missing, bad, or made by a key that is not trusted."""

    exit_code = EXIT_SIGNATURE


class EnvironmentProblem(WcbundleError):
    """The machine lacks a tool, space or permissions the step needs."""

    exit_code = EXIT_ENVIRONMENT


class CommandFailed(EnvironmentProblem):
    """An external tool (gpg, rpmkeys, createrepo_c...) exited non-zero or hung; the message
    carries the command, its exit code and the tail of its stderr. Exit 8: the inputs were
    checked before the tool ran, so what is left is the tool or the machine."""

    def __init__(self, argv, returncode: int, stderr: str, message: str | None = None,
                 hint: str | None = None):
        argv = [str(a) for a in argv]
        tail = "\n".join(stderr.strip().splitlines()[-15:])
        head = message or f"command failed with exit code {returncode}: {' '.join(argv)}"
        super().__init__(head + (f"\n{tail}" if tail else ""), hint)
        self.argv, self.returncode, self.stderr = argv, returncode, stderr


class RepoError(CommandFailed):
    """createrepo_c or modifyrepo_c failed while indexing the bundle's repo."""
