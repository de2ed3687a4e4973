"""`python -m scripts.world build [--el 7|9] [--rebuild]`: build or reuse a world, print its dir."""

from __future__ import annotations

import argparse
import sys

from bundler.errors import WcbundleError

from . import ensure


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.world", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build (or reuse) the fixture world and print its root")
    b.add_argument("--el", type=int, choices=(7, 9), action="append",
                   help="EL version (repeatable; default: 7)")
    b.add_argument("--rebuild", action="store_true", help="build even if a cached world exists")
    args = parser.parse_args(argv)
    try:
        for el in args.el or [7]:
            print(ensure(el, rebuild=args.rebuild).root)
    except WcbundleError as exc:
        print(f"Error: {exc.render()}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
