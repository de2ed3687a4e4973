"""The installer runs on EL7, whose bash is 4.2.46: flag what bash 4.2 does differently.

Each rule is a difference that broke the installer under bash 4.2.45 built from source (its bats
suite run with that bash first on PATH), or a feature bash 4.2 lacks:
- an empty array expanded under `set -u` ("${A[@]}", ${A[*]}) is an unbound variable before 4.4:
  written ${A[@]+"${A[@]}"} / ${A[*]+${A[*]}} instead (a slice or ${A[*]:-} is fine);
- `declare -gA A=(...)` run inside a function (a lib sourced by one) leaves A empty: declare, then assign;
- a \\' in a ${v//pattern/replacement} keeps its backslash in 4.2: the quotes go through variables;
- namerefs (local/declare -n), mapfile -d, ${v@Q}-style transformations, wait -n, $EPOCHSECONDS
  and inherit_errexit do not exist before 4.3/4.4/5.0.

Usage: python3 scripts/bash42_lint.py FILE...   prints FILE:LINE: problem; exit 1 when any
"""

from __future__ import annotations

import re
import sys

ARRAY_AT = re.compile(r'"\$\{([A-Za-z_]\w*)\[@\]([^}"]*)\}"')
ARRAY_STAR = re.compile(r"\$\{([A-Za-z_]\w*)\[\*\]")
RULES = [
    (re.compile(r"^\s*declare -g\w*A\w* [A-Za-z_]\w*=\("), "declare -gA NAME=(...): bash 4.2 drops it inside a function; declare, then assign"),
    (re.compile(r"\$\{[^}]*//[^}]*\\'[^}]*\}"), "\\' in a ${v//pat/rep}: bash 4.2 keeps the backslash; use variables"),
    (re.compile(r"\b(local|declare|typeset)\s+-\w*n\w*\s"), "a nameref needs bash 4.3"),
    (re.compile(r"\b(mapfile|readarray)\b[^#\n]*\s-d\s"), "mapfile -d needs bash 4.4"),
    (re.compile(r"\$\{[A-Za-z_]\w*(\[[^]]*\])?@[QEPAaUuLK]\}"), "${v@X} needs bash 4.4"),
    (re.compile(r"\bwait -n\b"), "wait -n needs bash 4.3"),
    (re.compile(r"\$\{?EPOCH(SECONDS|REALTIME)\b"), "$EPOCHSECONDS needs bash 5.0"),
    (re.compile(r"inherit_errexit"), "inherit_errexit needs bash 4.4"),
]


def problems(text: str) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    for n, line in enumerate(text.splitlines(), 1):
        code = line.split(" #", 1)[0] if not line.lstrip().startswith("#") else ""
        for rx, why in RULES:
            if rx.search(code):
                out.append((n, why))
        for m in ARRAY_AT.finditer(code):
            guarded = code[:m.start()].endswith(f"${{{m.group(1)}[@]+")
            if not guarded and not m.group(2).startswith(":"):
                out.append((n, f'"${{{m.group(1)}[@]}}" under set -u: unbound when empty before bash 4.4; '
                               f'${{{m.group(1)}[@]+"${{{m.group(1)}[@]}}"}}'))
        for m in ARRAY_STAR.finditer(code):
            after = code[m.end():m.end() + 1]
            inner = code[:m.start()].endswith(f"${{{m.group(1)}[*]+")
            if after not in ("+", ":") and not inner:
                out.append((n, f"${{{m.group(1)}[*]}} under set -u: unbound when empty before bash 4.4; "
                               f"${{{m.group(1)}[*]+${{{m.group(1)}[*]}}}}"))
    return out


def main(argv: list[str]) -> int:
    bad = 0
    for path in argv:
        with open(path, encoding="utf-8") as f:
            for n, why in problems(f.read()):
                print(f"{path}:{n}: {why}")
                bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
