"""EL8 joins EL7 and EL9: resolve on the EL8 fixture world, with the real Rocky 8.9 module metadata.

The world's el8-appstream carries the real module documents of mariadb (default stream 10.3),
mysql, perl and perl-DBI (perl-DBI:1.641 is a default stream: perl-DBI is modular on EL8), and the
modular packages of those streams with their real NEVRAs and labels (scripts/world/README.md).
The MariaDB vendor repo is module_hotfixes, as the manifest has it, and the platform is
platform:el8. dnf itself is the oracle for the provider choice with default streams active.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bundler.cli import main
from bundler.core import paths
from bundler.resolve.solve import Selection, resolve, resolve_sets
from scripts import oracle

pytestmark = [pytest.mark.integration]

REPOS = ["el8-baseos", "el8-appstream", "mariadb", "erlang", "rabbitmq"]


@pytest.fixture(scope="module")
def world8():
    from scripts.world import ensure
    return ensure(8)


def repo_urls(world) -> dict[str, str]:
    return {r: world.repos[r].as_uri() + "/" for r in REPOS}


def selection(world, **kw) -> Selection:
    """The world's repos, each with its test key pinned (the manifest's keys are the vendors')."""
    return Selection(el=8, repos=repo_urls(world), gpgkeys={r: [world.keys[r].resolve().as_uri()] for r in REPOS},
                     fingerprints={r: [fpr] for r, fpr in world.fingerprints.items()}, **kw)


def manifest_without_disable(tmp_path: Path) -> Path:
    """The manifest with EL8's `modules: {disable: [mariadb, mysql]}` taken out: the default
    mariadb:10.3 stream is then active, as on a stock EL8."""
    text = paths.DEFAULT_MANIFEST.read_text()
    line = "    modules: {disable: [mariadb, mysql]}\n"
    assert text.count(line) == 1
    out = tmp_path / "no-disable.yaml"
    out.write_text(text.replace(line, ""))
    return out


def test_el8_roles_resolve_with_vendor_mariadb_and_modular_perl_dbi(world8, tmp_path, capsys):
    argv = ["-q", "resolve", "--el", "8", "--cache", str(tmp_path / "c"), "--json",
            *world8.repo_args(world8.root.as_uri())]
    capsys.readouterr()
    assert main(argv) == 0
    lock = json.loads(capsys.readouterr().out)
    pkgs = {p["name"]: p for p in lock["packages"]}
    assert pkgs["MariaDB-server"]["repo"] == "mariadb" and pkgs["MariaDB-server"]["version"] == "10.11.10"
    assert pkgs["galera-4"]["repo"] == "mariadb" and "galera" not in pkgs and "mariadb-server" not in pkgs
    dbi = pkgs["perl-DBI"]
    assert dbi["modularity_label"] == "perl-DBI:1.641:8090020231016030935:88fd4976"   # the perl:5.26 context
    assert "perl-DBI-0:1.641-4.module+el8.9.0+1495+f278a004.x86_64" in lock["roles"]["db-node"]["install"]
    assert "name: perl-DBI" in lock["modules"]["el8-appstream"] and "module: perl-DBI" in lock["modules"]["el8-appstream"]
    assert pkgs["erlang"]["version"].startswith("27.") and pkgs["rabbitmq-server"]["version"].startswith("4.")
    assert lock["baseline"]["kind"] == "minimal" and lock["baseline"]["count"] > 250


def test_vendor_mariadb_wins_over_the_default_stream_through_module_hotfixes(world8, tmp_path):
    man = manifest_without_disable(tmp_path)
    sel = selection(world8, manifest_path=man, baseline="minimal", cache_dir=tmp_path / "c", roles=["db-node"])
    lock = resolve(sel)
    server = next(p for p in lock.packages if p.name == "MariaDB-server")
    assert server.repo == "mariadb" and server.modularity_label is None
    # the default stream is active: a name only AppStream's stream has gives its 10.3 build...
    sel.roles, sel.installs = [], ["mariadb-errmsg"]
    lock = resolve(sel)
    assert [p.modularity_label for p in lock.packages if p.name.startswith("mariadb")] == \
        ["mariadb:10.3:8080020230920001707:fd72936b"] * 2     # mariadb-common, mariadb-errmsg
    # ...while `mariadb` gives the vendor's MariaDB-client, which obsoletes it (as dnf does)
    sel.installs = ["mariadb"]
    assert [p.repo for p in resolve(sel).packages if p.name.startswith(("mariadb", "MariaDB"))] == \
        ["mariadb", "mariadb"]     # MariaDB-client, MariaDB-common
    # ...and with the stream disabled (the manifest's default) that package is hidden, with the reason
    from bundler.core.errors import ResolveError
    sel.manifest_path = paths.DEFAULT_MANIFEST
    sel.installs = ["mariadb-server-3:10.3.39"]
    with pytest.raises(ResolveError, match="module stream mariadb:10.3 is not enabled"):
        resolve(sel)


ORACLE_SETS = [["MariaDB-server"], ["mariadb-server"], ["mariadb"], ["mariadb-common"], ["mariadb-errmsg"], ["perl-DBI"],
               ["perl(DBI)"], ["galera"], ["galera-4"], ["mysql-server"], ["mariadb-server", "galera"],
               ["MariaDB-server", "mariadb-server"], ["MariaDB-*"], ["mariadb*"], ["java-1.8.0-openjdk-headless"],
               ["rabbitmq-server"], ["policycoreutils-python-utils", "socat"]]


@pytest.mark.slow
@pytest.mark.skipif(not oracle.have_dnf(), reason="needs Debian's dnf")
@pytest.mark.parametrize("el, modules", [
    (8, None),                                              # default streams: mariadb:10.3, perl-DBI:1.641...
    (8, {"mariadb": "disabled", "mysql": "disabled"}),      # the manifest's EL8 setting
    (9, {"mariadb": "enabled:10.11"}),                      # a non-default stream enabled (modelled EL9 modules)
])
def test_provider_choice_with_module_streams_equals_dnfs(tmp_path, el, modules):
    """dnf on an empty root with module_platform_id=platform:elN and the same module states (default
    streams active, or `dnf module disable`/`enable` as the manifest says), the vendor repo
    module_hotfixes: the same packages, set by set."""
    from scripts.world import ensure
    world = ensure(el)
    text = paths.DEFAULT_MANIFEST.read_text()
    if el == 8 and modules is None:
        text = text.replace("    modules: {disable: [mariadb, mysql]}\n", "")
    if el == 9 and modules:
        text = text.replace('  "9":\n    base-repo: el9-baseos\n',
                            '  "9":\n    base-repo: el9-baseos\n    modules: {enable: ["mariadb:10.11"]}\n')
    man = tmp_path / "m.yaml"
    man.write_text(text)
    from bundler.resolve.manifest import load_manifest
    assert load_manifest(man).for_el(el).modules.enable == (["mariadb:10.11"] if el == 9 else [])
    ids = world.repo_ids
    confs = {c.id: c for c in load_manifest(man).for_el(el).repos}
    urls = {r: world.repos[r].as_uri() + "/" for r in ids}
    repos = {rid: {"url": url, "module_hotfixes": confs[rid].module_hotfixes,
                   "excludepkgs": list(confs[rid].excludepkgs), "includepkgs": list(confs[rid].includepkgs)}
             for rid, url in urls.items()}
    root = tmp_path / "root"
    root.mkdir()
    theirs = oracle.dnf_solve({"el": el, "root": str(root), "work": str(tmp_path / "dnf"), "repos": repos,
                               "platform": f"platform:el{el}", "weak": False, "sets": ORACLE_SETS,
                               "modules": modules})
    sel = Selection(el=el, manifest_path=man, repos=urls, baseline="none", cache_dir=tmp_path / "c",
                    gpgkeys={r: [world.keys[r].resolve().as_uri()] for r in ids},
                    fingerprints={r: [fpr] for r, fpr in world.fingerprints.items()})
    ours = resolve_sets(sel, ORACLE_SETS)
    assert sum(t["ok"] for t in theirs) >= len(ORACLE_SETS) // 2, theirs   # real solves, not refusals
    diffs = []
    for names, o, t in zip(ORACLE_SETS, ours, theirs):
        mine = {"ok": False} if isinstance(o, Exception) else {"ok": True, "install": o.install}
        if mine["ok"] != t["ok"] or (mine["ok"] and mine["install"] != t["install"]):
            diffs.append((names, mine, t))
    assert not diffs, diffs[:3]
    picked = dict(zip(map(tuple, ORACLE_SETS), ours))
    assert any(n.startswith("MariaDB-server-") for n in picked[("mariadb-server",)].install)  # obsoletes win
    if el == 9:   # the enabled stream's builds, not the default's
        assert any(".module_el9" in n and ":10.11." in n for n in picked[("mariadb-errmsg",)].install)
