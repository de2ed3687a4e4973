"""The `wcbundle` command line: parse, build a context, map errors to exit codes.

Each subcommand lives in its own module (resolve.py, build.py, plan.py) and is
imported only when invoked, so `wcbundle resolve` does not pay for the
packing or reporting code. Library code never exits; this module does.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys

import click

from .. import __version__
from ..core.errors import EXIT_CODES, EXIT_INTERNAL, WcbundleError

# command name -> "module:function" (relative to bundler.cli)
COMMANDS = {
    "resolve": "resolve:resolve",
    "why": "resolve:why",
    "build": "build:build",
    "verify": "carry:verify",
    "inspect": "carry:inspect",
    "split": "carry:split",
    "plan": "plan:plan",
    "sources": "sources:sources",
    "diff": "diff:diff",
}

EXIT_HELP = "Exit codes:\n\n\b\n" + "\n".join(f"  {code}  {text}" for code, text in sorted(EXIT_CODES.items()))


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(f"{__name__}.{module}"), attr)


class Color(logging.Formatter):
    def format(self, record):
        msg = super().format(record)
        if record.levelno >= logging.WARNING and self.use_color:
            return click.style(msg, fg="yellow" if record.levelno == logging.WARNING else "red")
        return msg

    use_color = False


def setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    fmt = Color("%(message)s")
    fmt.use_color = sys.stderr.isatty() and "NO_COLOR" not in os.environ
    handler.setFormatter(fmt)
    root = logging.getLogger("wcbundle")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


@click.group(cls=LazyGroup, epilog=EXIT_HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="wcbundle")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.option("-v", "--verbose", count=True, help="More log output on stderr.")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors on stderr; no progress bars.")
@click.pass_context
def cli(ctx: click.Context, debug: bool, verbose: int, quiet: bool) -> None:
    """Build offline bundles of the WorkCenter stack for air-gapped EL 7/8/9 hosts."""
    setup_logging(2 if debug else verbose + 1, quiet)
    ctx.ensure_object(dict)
    ctx.obj.update(debug=debug, quiet=quiet)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turn WcbundleError into a message + exit code."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        rv = cli.main(args=args, prog_name="wcbundle", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except WcbundleError as exc:
        if debug:
            import traceback
            traceback.print_exc()
        click.echo(f"Error: {exc.render()}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return 130
    except Exception:  # noqa: BLE001 - the one place that catches everything
        if debug:
            raise
        exc_type, exc_value, _ = sys.exc_info()
        click.echo(f"Internal error: {exc_type.__name__}: {exc_value}\n"
                   "This is a bug in wcbundle. Rerun with --debug and report the traceback.", err=True)
        return EXIT_INTERNAL
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
