"""dnf as the oracle, with a real rpmdb: wcbundle's solve equals dnf's on the same installed system.

For each EL (the real CentOS 7.5 DVD metadata, the real CentOS Stream 9 BaseOS) and each baseline:
- none:    dnf --installroot on an empty root          vs  wcbundle --baseline none
- minimal: dnf on a root whose rpmdb holds @core        vs  wcbundle --baseline minimal
- capture: the same root                                vs  wcbundle --baseline <capture of that root>
- aged:    a root whose @core is one build older than the repo (and holds packages a repo package
           obsoletes)                                   vs  wcbundle --baseline <capture of that root>
           so that solves upgrade installed packages and replace some through obsoletes
The root's rpmdb is real: header-only RPMs of dnf's own `group install core` set, built by rpmbuild
from the metadata (every provide, requirement, conflict, obsolete and file) and installed with
`rpm -i --justdb` (scripts/oracle, cached per machine). dnf runs with its defaults (best=False,
obsoletes on, no --allowerasing), i686 excluded as the bundle repo has none.

Each set is compared whole: the packages installed, upgraded, reinstalled, downgraded and obsoleted
must be equal, or both sides must refuse the set. The fixed sets are hand-picked for the cases the
baseline and dnf's request handling decide (already installed, obsoletes, globs, provides, paths,
NEVRA forms, conflicts with installed packages, installonly kernels); the random sets are seeded,
so a failure is reproducible, and find what picked ones miss.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from bundler.core import paths
from bundler.core.errors import ResolveError
from bundler.resolve.solve import Selection, resolve_sets
from scripts import oracle
from scripts.world.realmeta import read_primary, repodata_file

pytestmark = [pytest.mark.integration, pytest.mark.slow,
              pytest.mark.skipif(not oracle.have_dnf(), reason="needs Debian's dnf and rpmbuild; CI has them")]

FIXED = {
    7: [
        ["bash"],                                         # installed: nothing to add
        ["openssl-libs", "systemd", "yum"],               # all installed
        ["bash-completion"],
        ["mariadb-server", "java-1.8.0-openjdk-headless"],
        ["java-1.8.0-openjdk-headless", "mariadb-server", "perl-DBI", "rsync", "socat", "lsof"],
        ["krb5-server", "rsync"],                         # a file dependency only filelists answers
        ["python-rhsm"],                                  # obsoleted by subscription-manager-rhsm
        ["python-rhsm", "subscription-manager-rhsm"],
        ["python-rhsm-certificates"],
        ["libibmad"],
        ["oxygen-gtk3"],
        ["fence-agents-all"],
        ["perl-DBD-*"],                                   # globs
        ["rsync*", "socat"],
        ["bash*"],                                        # a glob that also matches installed bash
        ["python-rhsm*"],
        ["perl(DBD::*)"],                                 # a glob that matches provides only
        ["perl(DBI)"],                                    # provides
        ["/usr/share/dict/words"],                        # a path
        ["/usr/bin/python"],                              # a path @core already has
        ["libssl.so.10()(64bit)"],
        ["mta"],                                          # a virtual provide with several providers
        ["webserver"],
        ["bash-4.2.46-30.el7"],                           # NEVRA forms
        ["rsync.x86_64", "tar-2:1.26-34.el7"],
        ["mariadb-server-1:5.5.56-2.el7.x86_64"],
        ["mariadb-server >= 1:5.5"],
        ["kernel"],                                       # installonly
        ["kernel-devel", "kernel-headers"],
        ["postfix", "sendmail"],
        ["nosuchpackage"],                                # both refuse
        ["httpd", "mod_ssl", "php"],
        ["gcc", "make", "rpm-build"],
        ["NetworkManager", "firewalld", "policycoreutils-python"],
    ],
    9: [
        ["bash"],
        ["rsync", "lsof", "tar"],
        ["openssh-server", "policycoreutils", "dnf"],
        ["curl-minimal"],                                 # conflicts with installed curl
        ["libcurl-minimal"],
        ["python3-setuptools"],
        ["python3-*"],
        ["lib*-devel"],
        ["sssd*"],
        ["libssl.so.3*"],
        ["/usr/bin/python3"],
        ["/usr/sbin/semanage"],
        ["perl(Getopt::Long)"],
        ["kernel"],
        ["kernel-core", "kernel-modules"],
        ["tar-2:1.34-3.el9"],
        ["rsync.x86_64"],
        ["nosuchpackage"],
        ["grub2-efi-x64", "shim-x64", "efibootmgr"],
        ["NetworkManager-wifi", "iwl7260-firmware"],
        ["cockpit-system", "cockpit-ws"],
    ],
}
AGED_FIXED = {   # on the aged root: upgrades of installed packages, replacements through obsoletes
    7: [["subscription-manager-rhsm"], ["mariadb-server"], ["glibc-devel"], ["openssl"], ["systemd-python"],
        ["bash", "rsync"], ["python-rhsm"], ["krb5-workstation"], ["NetworkManager-tui"], ["yum-utils"]],
    9: [["glibc-devel"], ["openssl"], ["systemd-container"], ["bash", "rsync"], ["NetworkManager-tui"],
        ["dnf-plugins-core"], ["openssh-clients"], ["sudo"], ["kernel-core"], ["curl"]],
}
RANDOM_SETS = 120          # per EL: 240 in all
SEED = 20261129


def _names(el: int) -> list[str]:
    return sorted({p.name for repo in oracle.REPOS[el].values()
                   for p in read_primary(repodata_file(repo, "primary.xml.gz")) if p.arch in ("x86_64", "noarch")})


def _random_sets(el: int) -> list[list[str]]:
    rng = random.Random(SEED + el)
    names = _names(el)
    return [rng.sample(names, rng.randint(1, 6)) for _ in range(RANDOM_SETS)]


def _ours(result) -> dict:
    if isinstance(result, ResolveError):
        return {"ok": False, "error": result.message}
    return {"ok": True, "install": result.install, "upgrade": sorted(result.upgrade),
            "reinstall": result.reinstall, "downgrade": sorted(result.downgrade),
            "obsoleted": sorted({r for rs in result.replaced.values() for r in rs})}


def _same(ours: dict, theirs: dict) -> bool:
    if not ours["ok"] or not theirs["ok"]:
        return ours["ok"] == theirs["ok"]
    return all(ours[k] == theirs[k] for k in ("install", "upgrade", "reinstall", "downgrade", "obsoleted")) \
        and not theirs["erase"]


@pytest.fixture(scope="module")
def roots():
    return {el: oracle.ensure_root(el) for el in (7, 9)}


@pytest.fixture(scope="module")
def aged_roots():
    return {el: oracle.ensure_root(el, aged=True) for el in (7, 9)}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("wcb-oracle-cache")


def compare(el: int, kind: str, sets: list[list[str]], roots, cache: Path, work: Path) -> tuple[int, list]:
    work.mkdir(parents=True, exist_ok=True)
    if kind == "none":
        (work / "empty").mkdir(exist_ok=True)
        droot, baseline = work / "empty", "none"
    else:
        droot = roots[el] / "root"
        baseline = "minimal" if kind == "minimal" else str(oracle.capture(roots[el], work / "capture.txt"))
    theirs = oracle.dnf_solve({"el": el, "root": str(droot), "work": str(work / "dnf"),
                               "repos": oracle.repo_urls(el), "weak": False, "sets": sets})
    ours = resolve_sets(Selection(el=el, manifest_path=paths.DEFAULT_MANIFEST, repos=oracle.repo_urls(el),
                                  baseline=baseline, cache_dir=cache), sets)
    diffs = []
    for names, o, t in zip(sets, ours, theirs):
        mine = _ours(o)
        if not _same(mine, t):
            diffs.append({"set": names, "wcbundle": mine, "dnf": t})
    return len(sets) - len(diffs), diffs


def _report(el, kind, label, n, agreed, diffs, tmp_path):
    line = f"oracle EL{el} {kind:<8} {label:<6}: {agreed}/{n} agree"
    print(line)
    if diffs:
        out = tmp_path / "diffs.json"
        out.write_text(json.dumps(diffs, indent=1))
        first = diffs[0]
        pytest.fail(f"{line}; first difference: {json.dumps(first)[:1500]} (all in {out})")


@pytest.mark.parametrize("el", [7, 9])
@pytest.mark.parametrize("kind", ["none", "minimal", "capture", "aged"])
def test_fixed_sets_agree_with_dnf(el, kind, roots, aged_roots, cache, tmp_path):
    sets = FIXED[el] + (AGED_FIXED[el] if kind == "aged" else [])
    agreed, diffs = compare(el, kind, sets, aged_roots if kind == "aged" else roots, cache, tmp_path)
    _report(el, kind, "fixed", len(sets), agreed, diffs, tmp_path)


@pytest.mark.parametrize("el", [7, 9])
@pytest.mark.parametrize("kind", ["none", "minimal", "capture", "aged"])
def test_random_sets_agree_with_dnf(el, kind, roots, aged_roots, cache, tmp_path):
    sets = _random_sets(el)
    assert len(sets) == RANDOM_SETS and all(1 <= len(s) <= 6 for s in sets)
    agreed, diffs = compare(el, kind, sets, aged_roots if kind == "aged" else roots, cache, tmp_path)
    _report(el, kind, "random", len(sets), agreed, diffs, tmp_path)


def test_minimal_is_dnfs_core_install(roots, cache):
    """--baseline minimal is the set dnf's `group install core` puts on an empty root."""
    from bundler.resolve.solve import resolve
    for el in (7, 9):
        lock = resolve(Selection(el=el, manifest_path=paths.DEFAULT_MANIFEST, repos=oracle.repo_urls(el),
                                 installs=["bash"], baseline="minimal", cache_dir=cache))
        core = oracle.core_nevras(roots[el])
        assert lock.baseline["count"] == len(core) > 250
        assert lock.roles["custom"].satisfied == ["bash"] and lock.roles["custom"].install == []
        from bundler.resolve.solve import baseline_records
        records = baseline_records(Selection(el=el, manifest_path=paths.DEFAULT_MANIFEST, repos=oracle.repo_urls(el),
                                             baseline="minimal", cache_dir=cache))
        assert sorted(p.nevra for p in records) == core


def test_capture_of_the_rpmdb_is_whole(roots, tmp_path):
    """The documented capture command, run by rpm on the root, carries every kind of record."""
    from bundler.resolve import baseline as bl
    base = bl.load_capture(oracle.capture(roots[7], tmp_path / "c.txt"))
    assert base.version == bl.CAPTURE_VERSION and len(base.packages) == len(oracle.core_nevras(roots[7]))
    pkgs = {p.name: p for p in base.packages}
    assert "libc.so.6(GLIBC_2.15)(64bit)" in pkgs["bash"].requires and "filesystem < 3" in pkgs["bash"].conflicts
    assert "/usr/bin/bash" in pkgs["bash"].files and "bash = 4.2.46-30.el7" in pkgs["bash"].provides
    assert any(p.prereqs for p in base.packages) and any(p.obsoletes for p in base.packages)
    assert any(p.conflicts for p in base.packages)
    assert not any(d.startswith("rpmlib(") for p in base.packages for d in p.requires + p.prereqs)


@pytest.mark.installroot
def test_joint_job_agrees_with_dnf_on_the_fixture_world(tmp_path):
    """A joint job (roles one host holds, solved as one transaction) is dnf's answer to installing all
    their requests at once: the EL7 fixture world, mq-node + control-node (whose closures alone disagree
    on openssl), on a real rpmdb of @core (dnf `group install core` from the world's base repo) and its
    capture as the baseline; the manifest's repo filters given to dnf as the same repo options."""
    from bundler.cli.resolve import selection_from
    from bundler.core.run import run
    from bundler.resolve.baseline import CAPTURE_FORMAT
    from bundler.resolve.manifest import load_manifest
    from bundler.resolve.solve import resolve
    from scripts.world import ensure
    from tests.integration.test_installroot import seed_root
    world = ensure(7)
    root = seed_root(tmp_path / "seed", 7)
    capture = tmp_path / "baseline.txt"
    capture.write_text(run(["rpm", "--root", root, "-qa", "--qf", CAPTURE_FORMAT]).stdout)
    args = world.repo_args(world.root.as_uri())
    opt = {flag: [args[i + 1] for i in range(0, len(args), 2) if args[i] == flag]
           for flag in ("--repo", "--gpgkey", "--key-fingerprint")}
    sel = selection_from(el=7, repos=opt["--repo"], gpgkeys=opt["--gpgkey"], key_fingerprints=opt["--key-fingerprint"],
                         roles=["mq-node", "control-node"], baseline=str(capture), cache_dir=tmp_path / "cache")
    lock = resolve(sel)
    assert set(lock.joint) == {"control-node+mq-node"}
    joint = lock.joint["control-node+mq-node"]
    man = load_manifest(sel.manifest_path)
    confs = man.effective_repos(sel)
    assert all(c.priority == 99 for c in confs), "a repo priority: the dnf job below would not say it"
    repos = {c.id: {"url": c.baseurls[0], "includepkgs": c.includepkgs, "excludepkgs": c.excludepkgs,
                    "module_hotfixes": c.module_hotfixes} for c in confs}
    sets = [joint.requested] + [lock.roles[r].requested for r in ("mq-node", "control-node")]
    dbpath = run(["rpm", "--eval", "%_dbpath"]).stdout.strip()   # where seed_root's dnf put the rpmdb
    theirs = oracle.dnf_solve({"el": 7, "root": str(root), "work": str(tmp_path / "dnf"), "repos": repos,
                               "weak": man.weak_deps, "sets": sets, "dbpath": dbpath})
    assert all(t.get("ok") for t in theirs), theirs
    assert not any(n.startswith(("bash-", "glibc-")) for t in theirs for n in t["install"]), \
        "dnf did not see the root's rpmdb (it installs @core again)"
    for label, r, t in zip(("joint", "mq-node", "control-node"),
                           [joint, lock.roles["mq-node"], lock.roles["control-node"]], theirs):
        mine = {"ok": True, "install": sorted(r.install), "upgrade": sorted(r.upgrade),
                "reinstall": sorted(r.reinstall), "downgrade": sorted(r.downgrade),
                "obsoleted": sorted(set(r.replaced))}
        assert t["ok"] and _same(mine, t), f"{label}: wcbundle {json.dumps(mine)} vs dnf {json.dumps(t)}"
    # the per-role answers disagree on openssl; the joint one takes a single openssl EVR, as dnf does
    picked = {n.rsplit("-", 2)[0]: n for n in theirs[0]["install"] + theirs[0]["upgrade"] if n.startswith("openssl")}
    assert {"openssl", "openssl-libs"} <= set(picked), picked
    assert picked["openssl"].split("-", 1)[1].rsplit(".", 1)[0] == picked["openssl-libs"].split("-", 2)[2].rsplit(".", 1)[0]
