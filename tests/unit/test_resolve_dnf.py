"""Acceptance: `wcbundle resolve --baseline none` picks exactly what dnf's own solve picks.

dnf (Debian's dnf 4, libdnf + libsolv) runs in its own interpreter (/usr/bin/python3,
where python3-dnf lives) against an empty --installroot and a temporary .repo file
that points at the same real CentOS 7.5 metadata. gpgcheck stays on: the solve
never reaches the signature step.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from bundler.cli import main
from bundler.core.run import run

DATA = Path(__file__).resolve().parents[1] / "data" / "realmeta"
C7 = DATA / "centos7.5-dvd-x86_64"
CS9_BASEOS = DATA / "cs9-baseos-2022-x86_64"
DNF_PY = "/usr/bin/python3"

DNF_SOLVE = textwrap.dedent("""
    import json, sys
    import dnf
    root, releasever, weak, names = sys.argv[1], sys.argv[2], sys.argv[3] == "weak", sys.argv[4:]
    base = dnf.Base()
    c = base.conf
    c.installroot = root + "/root"; c.cachedir = root + "/cache"; c.reposdir = [root + "/repos"]
    c.logdir = root + "/log"; c.persistdir = root + "/persist"
    c.install_weak_deps = weak
    c.substitutions["releasever"] = releasever; c.substitutions["basearch"] = "x86_64"; c.arch = "x86_64"
    base.read_all_repos()
    base.fill_sack(load_system_repo=False)
    for n in names:
        base.install(n)
    base.resolve()
    print(json.dumps(sorted(f"{p.name}-{p.epoch}:{p.version}-{p.release}.{p.arch}"
                            for p in base.transaction.install_set)))
""")


def run_dnf_solve(tmp: Path, repo: Path, releasever: str, names: list[str], weak: bool = False) -> list[str]:
    """dnf's own install solve on an empty installroot -> sorted NEVRAs."""
    for d in ("root", "cache", "repos", "log", "persist"):
        (tmp / d).mkdir(parents=True, exist_ok=True)
    (tmp / "repos" / "test.repo").write_text(
        f"[test]\nname=test\nbaseurl={repo.as_uri()}\nenabled=1\ngpgcheck=1\n")
    (tmp / "solve.py").write_text(DNF_SOLVE)
    argv = [DNF_PY, str(tmp / "solve.py"), str(tmp), releasever, "weak" if weak else "strict"] + names
    out = run(argv, timeout=120).stdout
    return json.loads(out.strip().splitlines()[-1])


def have_dnf() -> bool:
    return Path(DNF_PY).exists() and shutil.which("dnf") is not None and \
        run([DNF_PY, "-c", "import dnf"], check=False).returncode == 0


pytestmark = pytest.mark.skipif(not have_dnf(), reason="needs Debian's dnf (apt-get install dnf); CI has it")


def wcbundle_solve(tmp: Path, names: list[str], capsys) -> list[str]:
    argv = ["-q", "resolve", "--cache", str(tmp / "wcb"), "--adhoc-repo", f"c7={C7.as_uri()}", "--baseline", "none",
            "--json"] + [a for n in names for a in ("--install", n)]
    capsys.readouterr()
    assert main(argv) == 0
    return sorted(json.loads(capsys.readouterr().out)["roles"]["custom"]["install"])


@pytest.mark.parametrize("names", [
    ["mariadb-server", "java-1.8.0-openjdk-headless"],                      # the acceptance command
    ["java-1.8.0-openjdk-headless", "mariadb-server", "perl-DBI", "rsync", "socat", "lsof"],
    # krb5-server requires /usr/share/dict/words, which only filelists shows (in `words`)
    ["krb5-server", "rsync"],
])
def test_same_nevra_set_as_dnf(tmp_path, capsys, names):
    ours = wcbundle_solve(tmp_path, names, capsys)
    theirs = run_dnf_solve(tmp_path / "dnf", C7, "7", names)
    assert len(theirs) > 40
    assert ours == theirs, {"only wcbundle": sorted(set(ours) - set(theirs)),
                            "only dnf": sorted(set(theirs) - set(ours))}


def test_same_nevra_set_as_dnf_on_cs9_baseos(tmp_path):
    from bundler.core import paths
    from bundler.resolve.solve import Selection, resolve
    names = ["rsync", "lsof", "tar", "openssh-server", "policycoreutils"]
    lock = resolve(Selection(el=9, manifest_path=paths.DEFAULT_MANIFEST, repos={"el9-baseos": CS9_BASEOS.as_uri()},
                             installs=names, baseline="none", cache_dir=tmp_path / "wcb"))
    ours = sorted(lock.roles["custom"].install)
    theirs = run_dnf_solve(tmp_path / "dnf", CS9_BASEOS, "9", names)
    assert len(theirs) > 90
    assert ours == theirs, {"only wcbundle": sorted(set(ours) - set(theirs)),
                            "only dnf": sorted(set(theirs) - set(ours))}


def test_weak_deps_on_match_dnf_install_weak_deps(tmp_path):
    from bundler.core import paths
    from bundler.resolve.solve import Selection, resolve
    man = tmp_path / "weak.yaml"
    man.write_text(paths.DEFAULT_MANIFEST.read_text().replace("weak-deps: false", "weak-deps: true"))
    names = ["openssh-server", "dnf"]
    lock = resolve(Selection(el=9, manifest_path=man, repos={"el9-baseos": CS9_BASEOS.as_uri()},
                             installs=names, baseline="none", cache_dir=tmp_path / "wcb"))
    ours = sorted(lock.roles["custom"].install)
    theirs = run_dnf_solve(tmp_path / "dnf", CS9_BASEOS, "9", names, weak=True)
    assert "openssl-pkcs11-0:0.4.11-7.el9.x86_64" in theirs  # a Recommends of openssh
    assert ours == theirs, {"only wcbundle": sorted(set(ours) - set(theirs)),
                            "only dnf": sorted(set(theirs) - set(ours))}
