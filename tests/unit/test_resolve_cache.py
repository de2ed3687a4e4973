"""The same command gives the same lock, byte for byte, whatever the cache's history.

Everything derived that the cache holds (.solv files with the file provides some earlier run
learnt, the hidden-package analysis, the @core records, the installed repo) is named by every
input that changes the answer, and `--refresh` rebuilds it all.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bundler.cli import main

DATA = Path(__file__).resolve().parents[1] / "data" / "realmeta"
C7 = DATA / "centos7.5-dvd-x86_64"
CS9 = DATA / "cs9-baseos-2022-x86_64"
CAPTURE = ("python-rhsm-0:1.19.9-1.el7.x86_64\tP:python-rhsm = 1.19.9-1.el7\tR:manual:python\n"
           "site-base-0:1.0-1.x86_64\tP:site-base = 1.0-1\tP:bash = 4.2.46-30.el7\tF:/usr/bin/pkg-config\n")


def run_json(capsys, cache: Path, el: int, repo: str, baseline: str, *installs: str, refresh=False) -> bytes:
    argv = ["-q", "resolve", "--el", str(el), "--cache", str(cache), "--repo", repo, "--baseline", baseline, "--json"]
    argv += [a for n in installs for a in ("--install", n)] + (["--refresh"] if refresh else [])
    capsys.readouterr()
    assert main(argv) == 0
    return capsys.readouterr().out.encode()


@pytest.mark.parametrize("el, repo, installs", [
    (7, f"c7-os={C7.as_uri()}", ["mariadb-server", "krb5-server", "python-rhsm", "perl-DBD-*"]),
    (9, f"el9-baseos={CS9.as_uri()}", ["rsync", "openssh-server", "curl", "lsof"]),
])
@pytest.mark.parametrize("baseline", ["minimal", "capture"])
def test_same_answer_after_any_cache_history(tmp_path, capsys, el, repo, installs, baseline):
    capture = tmp_path / "capture.txt"
    capture.write_text(CAPTURE)
    bl = str(capture) if baseline == "capture" else "minimal"
    fresh = run_json(capsys, tmp_path / "fresh", el, repo, bl, *installs)
    assert b'"install"' in fresh

    # history 1: other baselines and requests first, one of them needing filelists (new file provides
    # recorded in the .solv files), then the command
    warm = tmp_path / "warm"
    run_json(capsys, warm, el, repo, "none", "krb5-server" if el == 7 else "tar")
    run_json(capsys, warm, el, repo, str(capture) if baseline == "minimal" else "minimal", installs[0])
    run_json(capsys, warm, el, repo, bl, installs[-1])
    assert run_json(capsys, warm, el, repo, bl, *installs) == fresh
    assert run_json(capsys, warm, el, repo, bl, *installs) == fresh          # and again, fully warm

    # history 2: a copy of that cache, every derived file truncated or garbled: --refresh rebuilds them
    broken = tmp_path / "broken"
    shutil.copytree(warm, broken)
    for path in list((broken / "solv").glob("*")) + list((broken / "baseline").glob("*")):
        path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 3])
    assert run_json(capsys, broken, el, repo, bl, *installs, refresh=True) == fresh
    assert run_json(capsys, broken, el, repo, bl, *installs) == fresh
