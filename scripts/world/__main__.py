"""The fixture world's command line.

    python -m scripts.world build [--el 7|9]... [--rebuild]   build or reuse; print each world root
    python -m scripts.world repo-args --el 7 --base-url URL    print --repo/--gpgkey/--key-fingerprint args, one per line
"""

from __future__ import annotations

import argparse
import sys

from bundler.core.errors import WcbundleError

from . import ensure


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.world", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build (or reuse) the fixture world and print its root")
    b.add_argument("--el", type=int, choices=(7, 8, 9), action="append",
                   help="EL version (repeatable; default: 7)")
    b.add_argument("--rebuild", action="store_true", help="build even if a cached world exists")
    a = sub.add_parser("repo-args", help="print `--repo ID=URL --gpgkey ID=file://KEY --key-fingerprint ID=FPR` args, one per line")
    a.add_argument("--el", type=int, choices=(7, 8, 9), default=7)
    a.add_argument("--base-url", required=True, help="where the world root is served (http://... or file://...)")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "repo-args":
            print("\n".join(ensure(args.el).repo_args(args.base_url)))
            return 0
        for el in args.el or [7]:
            print(ensure(el, rebuild=args.rebuild).root)
    except WcbundleError as exc:
        print(f"Error: {exc.render()}", file=sys.stderr)
        return exc.exit_code
    except (RuntimeError, ValueError, OSError) as exc:   # model/closure problems, missing realmeta
        print(f"Error: the fixture world could not be built: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
