"""The fixture world is what it claims: a faithful shadow of real metadata, signed, served, cached."""

from __future__ import annotations

import gzip
import hashlib
import lzma
import os
import time
import xml.etree.ElementTree as ET

import pytest
import requests
import solv

import scripts.world as world_pkg
from bundler.core.run import run
from scripts.world import ensure
from scripts.world.plan import REAL_DIRS, ROLE_BASE
from scripts.world.realmeta import NS_FILES, comps_group, load_pool, read_primary, repodata_file

pytestmark = pytest.mark.integration

DEP_KINDS = ("provides", "requires", "conflicts", "obsoletes", "recommends", "suggests", "supplements", "enhances")
SAMPLES = {7: ["bash", "glibc", "openssl-libs", "postfix", "mariadb-libs", "java-1.8.0-openjdk-headless",
               "perl-DBI", "policycoreutils-python", "systemd", "socat"],
           9: ["bash", "glibc", "openssl-libs", "systemd", "rsync", "lsof", "logrotate", "policycoreutils"]}
SAMPLES[8] = SAMPLES[9]   # the EL8 base repo is a stand-in with the same real CS9 BaseOS records
ROLE_PKGS = {7: ["MariaDB-server", "MariaDB-client", "MariaDB-backup", "galera-4", "erlang", "rabbitmq-server",
                 "java-1.8.0-openjdk-headless", "rsync", "socat", "lsof", "perl-DBI", "logrotate",
                 "policycoreutils-python", "ansible"],
             9: ["MariaDB-server", "MariaDB-backup", "galera-4", "erlang", "rabbitmq-server",
                 "java-1.8.0-openjdk-headless", "socat", "policycoreutils-python-utils", "ansible-core"]}
ROLE_PKGS[8] = ROLE_PKGS[9]


def _norm(deps):
    return {(d.name, d.flags, (d.epoch or "0") if d.flags else None, d.ver, d.rel, d.pre) for d in deps}


@pytest.mark.parametrize("el", [7, 8, 9])
def test_shadow_matches_real_metadata(el):
    w = ensure(el)
    real = {(p.name, p.arch, p.evr): p for p in read_primary(repodata_file(REAL_DIRS[el], "primary.xml.gz"))}
    mine = read_primary(repodata_file(w.repos[w.base_repo], "primary.xml.gz"))
    assert len(mine) > 250
    for pkg in mine:   # every shadow package, every dependency array, entry by entry
        twin = real.get((pkg.name, pkg.arch, pkg.evr))
        assert twin is not None, f"{pkg.nevra} is not in the real metadata"
        for kind in DEP_KINDS:
            assert _norm(getattr(pkg, kind)) == _norm(getattr(twin, kind)), (pkg.nevra, kind)
    names = {p.name: p for p in mine}
    for name in SAMPLES[el] + comps_group(repodata_file(REAL_DIRS[el], "comps.xml.gz" if el == 7
                                                         else "BaseOS.x86_64.xml.gz")):
        assert name in names, f"{name} missing from the EL{el} shadow"
    assert names["bash"].nevra == {7: "bash-0:4.2.46-30.el7.x86_64"}.get(el, "bash-0:5.1.8-2.el9.x86_64")
    if el == 7:
        assert names["mariadb-libs"].nevra == "mariadb-libs-1:5.5.56-2.el7.x86_64"
        assert {str(d) for d in names["postfix"].requires} >= {"libmysqlclient.so.18()(64bit)"}


def _filelists(repo_dir):
    out = {}
    with gzip.open(repodata_file(repo_dir, "filelists.xml.gz")) as fh:
        for _, el in ET.iterparse(fh):
            if el.tag == NS_FILES + "package":
                out[el.attrib["name"]] = {f.text for f in el.findall(NS_FILES + "file")}
                el.clear()
    return out


@pytest.mark.parametrize("el", [7, 8, 9])
def test_required_files_are_carried(el):
    """Every file path any world package requires is shipped by some package (or explicitly provided)."""
    w = ensure(el)
    files, provides, requires = {}, set(), set()
    for repo_dir in w.repos.values():
        for name, paths in _filelists(repo_dir).items():
            files.setdefault(name, set()).update(paths)
        for pkg in read_primary(repodata_file(repo_dir, "primary.xml.gz")):
            provides.update(d.name for d in pkg.provides)
            requires.update(d.name for d in pkg.requires if d.name.startswith("/"))
    shipped = set().union(*files.values())
    assert requires, "no file requires at all?"
    missing = sorted(p for p in requires if p not in shipped and p not in provides)
    assert not missing, missing
    only_by_file = [p for p in requires if p in shipped and p not in provides]
    assert only_by_file, "expected some requires that only a shipped file satisfies"
    assert "/usr/sbin/useradd" in files["shadow-utils"]      # MariaDB-server's Requires(pre)
    assert "/usr/lib64/galera-4/libgalera_smm.so" in files["galera-4"]
    assert "/usr/bin/garbd" in files["galera-4"]


@pytest.mark.parametrize("el", [7, 8, 9])
def test_world_closes_for_core_and_every_role_package(el):
    w = ensure(el)
    pool = load_pool(w.repos)
    core = comps_group(repodata_file(REAL_DIRS[el], "comps.xml.gz" if el == 7 else "BaseOS.x86_64.xml.gz"))
    jobs = []
    for name in core + ROLE_BASE[el] + ROLE_PKGS[el]:
        if el == 7 and name == "mariadb-libs":
            continue   # MariaDB-compat obsoletes it: asking for both is a conflict by design
        sel = pool.select(name, solv.Selection.SELECTION_NAME)
        assert not sel.isempty(), name
        jobs += sel.jobs(solv.Job.SOLVER_INSTALL)
    solver = pool.Solver()
    problems = solver.solve(jobs)
    assert not problems, [str(p) for p in problems]
    new = {s.name: s for s in solver.transaction().newsolvables()}
    if el == 7:
        assert "MariaDB-compat" in new and "mariadb-libs" not in new      # the EL7 replacement
        assert new["openssl-libs"].repo.name == "c7-updates"              # the modelled baseline upgrade
        assert new["openssl-libs"].evr == "1:1.0.2k-26.el7_9"
        assert new["erlang"].evr == "23.3.4.18-1.el7"
        assert new["rabbitmq-server"].evr == "3.9.16-1.el7"
        # issue 15: ansible from EPEL 7, with its EPEL dependencies; the rest from CentOS
        assert new["ansible"].evr == "2.9.27-1.el7" and new["ansible"].repo.name == "epel"
        assert {new[n].repo.name for n in ("python2-httplib2", "python2-jmespath")} == {"epel"}
        assert new["sshpass"].repo.name == "c7-extras" and new["PyYAML"].repo.name == "c7-os"
    else:
        assert new["ansible-core"].repo.name == f"el{el}-appstream"


@pytest.mark.parametrize("el", [7, 8, 9])
def test_rpms_are_signed_with_their_repos_key(el, tmp_path):
    w = ensure(el)
    repos = [r for r in w.repo_ids if list((w.repos[r] / "Packages").glob("*.rpm"))]
    assert len(repos) >= 5
    for i, repo in enumerate(repos):
        sample = sorted((w.repos[repo] / "Packages").glob("*.rpm"))[:3]
        good, other = tmp_path / f"{repo}-good", tmp_path / f"{repo}-other"
        run(["rpmkeys", "--root", good, "--import", w.keys[repo]])
        run(["rpmkeys", "--root", other, "--import", w.keys[repos[(i + 1) % len(repos)]]])
        for rpm in sample:
            ok = run(["rpmkeys", "--root", good, "--checksig", rpm], check=False)
            assert ok.returncode == 0 and "signatures OK" in ok.stdout, ok.stdout + ok.stderr
            bad = run(["rpmkeys", "--root", other, "--checksig", rpm], check=False)
            assert bad.returncode != 0, f"{rpm.name} verified with another repo's key"


def test_repos_are_served_over_http(world_el7):
    w = world_el7
    assert w.url.startswith("http://127.0.0.1:")
    with requests.Session() as s:
        for repo in w.world.repo_ids:
            base = w.repo_url(repo)
            repomd = s.get(base + "repodata/repomd.xml", timeout=10)
            assert repomd.status_code == 200, repo
            root = ET.fromstring(repomd.content)
            ns = "{http://linux.duke.edu/metadata/repo}"
            for data in root.findall(ns + "data"):
                href = data.find(ns + "location").get("href")
                assert not href.endswith((".zst", ".bz2")), f"EL7 needs gz metadata: {href}"
                body = s.get(base + href, timeout=10).content
                assert hashlib.sha256(body).hexdigest() == data.findtext(ns + "checksum"), href
            key = s.get(base + f"RPM-GPG-KEY-{repo}", timeout=10)
            assert key.text == w.keys[repo].read_text()
        rpm = next((w.repos["mariadb"] / "Packages").glob("galera-4-*.rpm"))
        got = s.get(w.repo_url("mariadb") + "Packages/" + rpm.name, timeout=10)
        assert got.content == rpm.read_bytes()
    assert any(e.path.endswith(rpm.name) and e.status == 200 for e in w.mirror.log)


def test_repo_args_point_every_repo_at_the_world(world_el7):
    pairs = list(zip(world_el7.repo_args[::2], world_el7.repo_args[1::2]))
    repos = dict(v.split("=", 1) for flag, v in pairs if flag == "--repo")
    keys = dict(v.split("=", 1) for flag, v in pairs if flag == "--gpgkey")
    pins = dict(v.split("=", 1) for flag, v in pairs if flag == "--key-fingerprint")
    assert {flag for flag, _ in pairs} == {"--repo", "--gpgkey", "--key-fingerprint"}
    assert set(repos) == set(keys) == set(pins) == {"c7-os", "c7-updates", "c7-extras", "epel", "mariadb", "erlang",
                                                     "rabbitmq"}
    from bundler.assemble.signatures import key_fingerprints
    assert [f for f, _ in key_fingerprints(world_el7.keys["mariadb"].read_text())] == [pins["mariadb"]]
    assert repos["c7-os"] == f"{world_el7.url}/el7/c7-os/"
    assert keys["mariadb"] == world_el7.keys["mariadb"].as_uri()
    assert requests.get(repos["erlang"] + "repodata/repomd.xml", timeout=10).status_code == 200
    assert requests.get(repos["erlang"] + "repodata/repomd.xml.asc", timeout=10).status_code == 200


@pytest.mark.parametrize("el", [7, 8, 9])
def test_modelled_packages_say_so(el):
    w = ensure(el)
    info = w.info
    for repo in ("mariadb", "erlang", "rabbitmq", *(["epel"] if el == 7 else [])):
        assert info["repos"][repo]["modelled"] is True
        rpm = sorted((w.repos[repo] / "Packages").glob("*.rpm"))[0]
        out = run(["rpm", "-qp", "--nosignature", "--qf", "%{VENDOR}\n%{DESCRIPTION}", rpm]).stdout
        assert "(modelled)" in out and "MODELLED" in out
    assert info["repos"][w.base_repo]["modelled"] is False
    readme = (world_pkg.__file__.rsplit("/", 1)[0]) + "/README.md"
    assert "MODELLED" in open(readme).read()


def test_el7_vendor_model_shape():
    w = ensure(7)
    compat = next((w.repos["mariadb"] / "Packages").glob("MariaDB-compat-10.11.10-*.rpm"))
    q = run(["rpm", "-qp", "--nosignature", "--provides", "--obsoletes", compat]).stdout
    assert "mariadb-libs" in q and "libmysqlclient.so.18()(64bit)" in q
    erl = next((w.repos["erlang"] / "Packages").glob("erlang-23.3.4.18-*.rpm"))
    req = run(["rpm", "-qp", "--nosignature", "--requires", erl]).stdout
    assert "libcrypto.so.10()(64bit)" in req
    rmq = next((w.repos["rabbitmq"] / "Packages").glob("rabbitmq-server-3.9.16-*.noarch.rpm"))
    req = run(["rpm", "-qp", "--nosignature", "--requires", rmq]).stdout
    assert "erlang >= 23.3" in req and "socat" in req and "logrotate" in req


def test_el9_appstream_has_modular_metadata():
    w = ensure(9)
    repo = w.repos["el9-appstream"]
    modules = repodata_file(repo, "modules.yaml.xz")
    text = lzma.decompress(modules.read_bytes()).decode()
    assert "document: modulemd\n" in text and "document: modulemd-defaults" in text
    assert 'stream: "10.5"' in text
    labels = {}
    for rpm in (repo / "Packages").glob("mariadb*.rpm"):
        out = run(["rpm", "-qp", "--nosignature", "--qf", "%{NAME}-%{EPOCHNUM}:%{VERSION}-%{RELEASE}.%{ARCH} "
                   "%{MODULARITYLABEL}", rpm]).stdout.split()
        labels[out[0]] = out[1]
    assert len(labels) == 8
    for nevra, label in labels.items():
        assert label.startswith("mariadb:"), nevra
        assert f"    - {nevra}\n" in text, f"{nevra} is not an artifact in modules.yaml"
    repomd = (repo / "repodata" / "repomd.xml").read_text()
    assert 'type="modules"' in repomd


def test_el8_appstream_carries_the_real_rocky8_modules():
    """The EL8 AppStream's modules.yaml is Rocky 8.9's own documents for mariadb, mysql, perl and
    perl-DBI, verbatim; every modular RPM carries a real artifact's NEVRA and its stream's label."""
    from scripts.world import model
    w = ensure(8)
    repo = w.repos["el8-appstream"]
    text = lzma.decompress(repodata_file(repo, "modules.yaml.xz").read_bytes()).decode()
    real = model.EL8_MODULES.read_text()
    docs = [d for d in text.split("...\n") if d.strip()]
    assert len(docs) > 10 and all(d.split("---\n", 1)[1] in real for d in docs)   # verbatim chunks
    assert "module: mariadb\n" in text and 'stream: "10.3"' in text and "name: perl-DBI\n" in text
    labels = {}
    for rpm in (repo / "Packages").glob("*.rpm"):
        nevra, label = run(["rpm", "-qp", "--nosignature", "--qf", "%{NAME}-%{EPOCHNUM}:%{VERSION}-%{RELEASE}.%{ARCH} "
                            "%{MODULARITYLABEL}", rpm]).stdout.split()
        if label != "(none)":
            labels[nevra] = label
            assert f"- {nevra}\n" in real, f"{nevra} is not a real Rocky 8.9 artifact"
    assert set(labels.values()) == {"mariadb:10.3:8080020230920001707:fd72936b",
                                    "perl-DBI:1.641:8090020231016030935:88fd4976"}
    assert len(labels) == 6


@pytest.mark.slow
def test_cache_is_keyed_by_inputs_and_built_atomically(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    extra = tmp_path / "model-input"
    extra.write_text("one")
    real_inputs = world_pkg.input_files
    monkeypatch.setattr(world_pkg, "input_files", lambda el: real_inputs(el) + [extra])
    h1 = world_pkg.inputs_hash(9)
    extra.write_text("two")
    h2 = world_pkg.inputs_hash(9)
    assert h1 != h2
    stale = tmp_path / "wcbundle-world" / ".tmp-el9-interrupted-1"
    (stale / "el9").mkdir(parents=True)
    t0 = time.monotonic()
    w = ensure(9)
    cold = time.monotonic() - t0
    assert w.root == tmp_path / "wcbundle-world" / f"el9-{h2[:16]}"
    assert (w.root / "WORLD.json").is_file() and not stale.exists()
    assert [p.name for p in w.root.parent.iterdir() if p.name.startswith(".tmp")] == []
    stamp = os.stat(w.root / "WORLD.json").st_mtime_ns
    t0 = time.monotonic()
    again = ensure(9)
    assert again.root == w.root and os.stat(w.root / "WORLD.json").st_mtime_ns == stamp
    assert time.monotonic() - t0 < max(1.0, cold / 5)
    print(f"EL9 world cold build: {cold:.1f} s")


def test_el9_world_is_served_with_modules(world_el9):
    base = world_el9.repo_url("el9-appstream")
    repomd = requests.get(base + "repodata/repomd.xml", timeout=10)
    assert repomd.status_code == 200
    ns = "{http://linux.duke.edu/metadata/repo}"
    (modules,) = [d for d in ET.fromstring(repomd.content).findall(ns + "data") if d.get("type") == "modules"]
    body = requests.get(base + modules.find(ns + "location").get("href"), timeout=10).content
    assert hashlib.sha256(body).hexdigest() == modules.findtext(ns + "checksum")
    assert b"document: modulemd-defaults" in lzma.decompress(body)
