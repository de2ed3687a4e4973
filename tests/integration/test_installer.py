"""install.sh's rendered configs through real parsers, and its package phase through a real dnf.

The fixture bundle is the bats one (tests/bats/fixtures/bundle + installer_stub + site/flows.tsv
from bundler.site.flows + a MANIFEST made here); install.sh runs for real under a WCB_ROOT prefix, with the packages/services/health phases
skipped (no daemons here; the cluster lab runs those). Then:
  - galera.cnf passes `my_print_defaults` and `mariadbd --help --verbose` (Debian's MariaDB: every
    option must be known to the server, or it refuses);
  - WorkCenter-app.yml parses with PyYAML and lists every db node (and no arbitrator) in the
    sequential JDBC URL;
  - the firewall rules install.sh prints for each host are exactly bundler.site.flows.firewalld_rules.
The package phase: install.sh's own repo + packages phases install every EL7 role into a root
seeded with the baseline, from a real `wcbundle build` of the fixture world, with real dnf.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from bundler.site.flows import write_flows_tsv

pytestmark = [pytest.mark.integration]

TOP = Path(__file__).resolve().parents[2]
FIXTURES = TOP / "tests" / "bats" / "fixtures"
NODES = ("wc-app1", "wc-app2", "wc-db1", "wc-db2", "wc-arb")


def make_manifest(bundle: Path) -> None:
    """MANIFEST.sha256 over every file but itself and its signature, sorted (design section 4)."""
    lines = []
    for p in sorted(q.relative_to(bundle).as_posix() for q in bundle.rglob("*") if q.is_file()):
        if not p.startswith("MANIFEST.sha256"):
            lines.append(f"{hashlib.sha256((bundle / p).read_bytes()).hexdigest()}  {p}\n")
    (bundle / "MANIFEST.sha256").write_text("".join(lines))


def copy_fixture_bundle(dest: Path) -> None:
    """installer_stub + the bats fixture bundle + site/flows.tsv as the builder writes it."""
    shutil.copytree(TOP / "installer_stub", dest, symlinks=False)
    shutil.copytree(FIXTURES / "bundle", dest, dirs_exist_ok=True)
    write_flows_tsv(dest / "site" / "flows.tsv")


def daemon_readable_bundle(prefix: str) -> tuple[Path, Path]:
    """(tmp dir, bundle) for tests that start real daemons: they run as mysql/rabbitmq/nobody and must
    reach their roots, so not under pytest's 0700 tmp dirs. The caller removes tmp."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    tmp.chmod(0o755)
    bundle = tmp / "bundle"
    copy_fixture_bundle(bundle)
    (bundle / "site/secrets.env").chmod(0o600)
    make_manifest(bundle)
    return tmp, bundle


def make_fixture_bundle(dest: Path) -> Path:
    copy_fixture_bundle(dest)
    (dest / "site" / "secrets.env").chmod(0o600)
    make_manifest(dest)
    return dest


def install(bundle: Path, root: Path, *args: str, skip: str = "packages services health",
            extra_env: dict | None = None) -> subprocess.CompletedProcess:
    # services: lib/service.sh's stub backend (records, starts nothing) unless extra_env selects another
    env = dict(os.environ, WCB_ROOT=str(root), WCB_SKIP_PHASES=skip, WCB_FIREWALL_BACKEND="none",
               WCB_TEST_ARCH="x86_64", WCB_SERVICE_BACKEND="stub", WCB_STUB_LOG=str(root.parent / "stub.log"))
    env.update(extra_env or {})
    return subprocess.run([str(bundle / "install.sh"), "--yes", *args], env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture
def fixture_run(tmp_path, request):
    bundle = make_fixture_bundle(tmp_path / "bundle")
    prefix = getattr(request, "param", None)
    if prefix:  # the same site on other addresses (an operator edit, as far as install.sh is concerned)
        env = bundle / "site/site.env"
        env.write_text(env.read_text().replace("127.10.", prefix))

    def run_node(node: str, *args: str):
        root = tmp_path / f"root-{node}"
        if not root.exists():
            shutil.copytree(FIXTURES / "root", root)
        res = install(bundle, root, "--node", node, *args)
        assert res.returncode == 0, res.stdout + res.stderr
        return root, res.stdout
    return bundle, run_node


def test_galera_cnf_passes_my_print_defaults_and_mariadbd(fixture_run):
    _, run_node = fixture_run
    root, _ = run_node("wc-db1")
    cnf = root / "etc/my.cnf.d/galera.cnf"
    res = subprocess.run(["my_print_defaults", f"--defaults-file={cnf}", "galera", "mysqld"],
                         capture_output=True, text=True, check=True)
    opts = dict(line[2:].split("=", 1) for line in res.stdout.splitlines())
    assert opts["wsrep_on"] == "ON"
    assert opts["wsrep_cluster_address"] == "gcomm://127.10.0.21,127.10.0.22,127.10.0.31"
    assert opts["wsrep_node_address"] == "127.10.0.21"
    assert opts["wsrep_cluster_name"] == "acme_galera"
    assert opts["wsrep_sst_method"] == "rsync"
    assert opts["binlog_format"] == "ROW"
    assert opts["innodb_autoinc_lock_mode"] == "2"
    assert Path(opts["wsrep_provider"]).is_file(), "the provider path must be found on this host"
    assert opts["datadir"] == str(root / "var/lib/mysql")
    # every option must be known to the real server: mariadbd refuses unknown variables
    srv = subprocess.run(["mariadbd", f"--defaults-file={cnf}", "--user=mysql", "--help", "--verbose"],
                         capture_output=True, text=True, timeout=60)
    assert srv.returncode == 0, srv.stderr[-2000:]
    assert "unknown variable" not in srv.stderr
    values = {f[0]: (f[1:] or [""])[0] for f in (line.split(None, 1) for line in srv.stdout.splitlines()) if f}
    assert values["wsrep-node-address"] == "127.10.0.21"
    assert values["wsrep-sst-receive-address"] == "127.10.0.21:4444"
    assert values["wsrep-on"] == "TRUE"


def test_workcenter_app_yml_parses_and_lists_every_db_node(fixture_run):
    _, run_node = fixture_run
    root, _ = run_node("wc-app2")
    doc = yaml.safe_load((root / "opt/workcenter/WorkCenter-app.yml").read_text())
    url = doc["spring"]["datasource"]["url"]
    assert url.startswith("jdbc:mariadb:sequential://")
    hosts = url[len("jdbc:mariadb:sequential://"):].split("/", 1)[0].split(",")
    assert hosts == ["127.10.0.21:3306", "127.10.0.22:3306"]
    assert url.endswith("/workcenter?autoReconnect=true")
    assert "127.10.0.31" not in url
    assert doc["spring"]["rabbitmq"]["addresses"] == "127.10.0.11:5672, 127.10.0.12:5672"
    assert doc["workcenter"]["cluster"] == {"enable": True, "members": ["127.10.0.11", "127.10.0.12"]}
    assert doc["workcenter"]["domain"]["webUrl"] == "http://127.10.0.100:8080"
    assert doc["workcenter"]["swagger"]["tokenUrl"] == "http://127.10.0.100:8080/oauth/token"
    assert doc["server"]["url"] == "http://127.10.0.100:8080"
    assert doc["workcenter"]["domain"]["description"] == "ACME 운영 도메인: 'prod' #1"  # the fixture's site.env


# bundler's site model refuses loopback node IPs (rightly); the bats fixture uses 127.10.0.x so that its
# reachability tests stay on 127.0.0.0/8. Here the site moves to 198.18.x.x: no connection is made.
@pytest.mark.parametrize("fixture_run", ["198.18."], indirect=True)
@pytest.mark.parametrize("node", NODES)
def test_firewall_rules_are_bundler_flows_rules(fixture_run, node):
    from bundler.site.flows import firewalld_rules
    from bundler.site.model import parse_site_env, site_from_env
    bundle, run_node = fixture_run
    _, out = run_node(node)
    printed = [shlex.split(line.split("firewall: ", 1)[1]) for line in out.splitlines()
               if line.startswith("    firewall: firewall-cmd") and "--reload" not in line]
    site = site_from_env(parse_site_env((bundle / "site/site.env").read_text()))
    want = firewalld_rules(site, node)
    assert want, f"the flow table gives {node} no rules"
    assert sorted(printed) == sorted(want)
    assert len(printed) == len(want)


# ------------------------------------------------------------------ the package phase with a real dnf

DNF_WRAPPER = FIXTURES / "dnf-wrapper"


@pytest.fixture(scope="module")
def el7_built(tmp_path_factory):
    from tests.integration.test_installroot import build_bundle, seed_root
    tmp = tmp_path_factory.mktemp("inst7")
    return build_bundle(tmp / "b", 7), seed_root(tmp / "s", 7)


@pytest.fixture(scope="module")
def el9_built(tmp_path_factory):
    from tests.integration.test_installroot import build_bundle, seed_root
    tmp = tmp_path_factory.mktemp("inst9")
    return build_bundle(tmp / "b", 9), seed_root(tmp / "s", 9)


def _package_phase(bundle: Path, seeded: Path, tmp_path: Path, role: str):
    """install.sh up to its repo + packages phases for ROLE (on its fixture-site node), on a copy of the
    seeded root, through real dnf; returns (root, node, env, result)."""
    root = tmp_path / "root"
    shutil.copytree(seeded, root, symlinks=True)
    site = bundle / "site"
    text = (FIXTURES / "bundle/site/site.env").read_text()
    if role == "control-node":   # issue 15: `install.sh --role control-node` on the arbitrator's host
        assert 'WCB_NODE_5_ROLES="arbitrator"' in text
        text = text.replace('WCB_NODE_5_ROLES="arbitrator"', 'WCB_NODE_5_ROLES="arbitrator control-node"')
    (site / "site.env").write_text(text)
    shutil.copy(FIXTURES / "bundle/site/secrets.env", site / "secrets.env")
    (site / "secrets.env").chmod(0o600)
    node = {"db-node": "wc-db1", "mq-node": "wc-app1", "app-node": "wc-app1", "arbitrator": "wc-arb",
            "control-node": "wc-arb"}[role]
    # dnf on PATH is a wrapper around the real dnf adding only what the fixture world needs
    # (placeholder payloads: tsflags=noscripts; a private cache dir); see the wrapper's comment.
    env = {"PATH": f"{DNF_WRAPPER}:{os.environ['PATH']}", "WCB_DNF_CACHE": str(tmp_path / "cache")}
    res = install(bundle, root, "--node", node, "--role", role, skip="preflight system config services health",
                  extra_env=env)
    return root, node, env, res


@pytest.mark.installroot
@pytest.mark.slow
@pytest.mark.parametrize("el", [7, 9])
@pytest.mark.parametrize("role", ["db-node", "mq-node", "app-node", "arbitrator", "control-node"])
def test_package_phase_installs_each_role_with_real_dnf(request, tmp_path, role, el):
    bundle, seeded = request.getfixturevalue(f"el{el}_built")
    root, node, env, res = _package_phase(bundle, seeded, tmp_path, role)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert "[packages] installed:" in out
    # an upgrade the phase reports is one rpm -q confirms (lib/pkg.sh wcb_pkg_has_evr): none skipped here
    assert "not upgraded" not in out, out[-3000:]
    repo = (root / "etc/yum.repos.d/wcbundle.repo").read_text()
    # the repo is kept on the host (issue 14): the .repo file points there, never into the extracted bundle
    assert "gpgcheck=1" in repo and f"baseurl=file://{root}/var/lib/wcbundle/repos/" in repo
    assert str(bundle) not in repo
    env_pkgs = subprocess.run(["bash", "-c", f'. "$1"; echo "$WCB_ROLE_PACKAGES_{role.replace("-", "_")}"',
                               "_", bundle / "bundle.env"], capture_output=True, text=True, check=True)
    pkgs = env_pkgs.stdout.split()
    q = subprocess.run(["rpm", "--root", root, "-q", *pkgs], capture_output=True, text=True)
    assert q.returncode == 0, q.stdout + q.stderr
    again = install(bundle, root, "--node", node, "--role", role, skip="preflight system config services health",
                    extra_env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"[packages] unchanged: {len(pkgs)} packages already installed" in again.stdout
    assert "Nothing changed" in again.stdout


def _rpm_q(root: Path, *names: str) -> subprocess.CompletedProcess:
    return subprocess.run(["rpm", "--root", root, "-q", *names], capture_output=True, text=True)


@pytest.mark.installroot
@pytest.mark.slow
@pytest.mark.parametrize("role", ["mq-node", "app-node", "db-node"])
def test_package_phase_upgrades_only_the_roles_closure_el7(el7_built, tmp_path, role):
    """The bundle repo is one for every role: on EL7 it offers db-node's MariaDB-compat, which obsoletes
    @core's mariadb-libs, to every host (check-update). install.sh's package phase (real dnf, gpgcheck on)
    on the @core root: mq-node and app-node, whose closures (the lock's per-role solve, bundle.env
    WCB_ROLE_CLOSURE_*) do not hold MariaDB-compat, keep mariadb-libs and say what they left alone;
    db-node, whose closure replaces mariadb-libs with it, does replace it."""
    from bundler.lock import load
    from tests.integration.test_installroot import bundle_env
    bundle, seeded = el7_built
    lock = load(bundle / "bundle.json")
    (compat,) = [p for p in lock.packages if p.name == "MariaDB-compat"]
    assert any(r.startswith("mariadb-libs-") for r in compat.replaces), compat.replaces
    assert "db-node" in compat.roles and "mq-node" not in compat.roles and "app-node" not in compat.roles
    closure = bundle_env(bundle)[f"WCB_ROLE_CLOSURE_{role.replace('-', '_')}"].split()
    assert closure == sorted({p.name for p in lock.packages if role in p.roles})
    assert _rpm_q(seeded, "mariadb-libs").returncode == 0, "the @core root should hold mariadb-libs"
    assert _rpm_q(seeded, "MariaDB-compat").returncode != 0
    root, _, _, res = _package_phase(bundle, seeded, tmp_path, role)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert "[packages] installed:" in out
    result = next(line for line in res.stdout.splitlines() if line.startswith("[packages] "))
    if role == "db-node":
        q = _rpm_q(root, "mariadb-libs")
        assert q.returncode != 0 and "not installed" in q.stdout, q.stdout
        assert _rpm_q(root, "MariaDB-compat").returncode == 0
        assert "MariaDB-compat" not in result.partition("left alone")[2], result
    else:
        assert _rpm_q(root, "mariadb-libs").returncode == 0, f"{role} replaced mariadb-libs:\n{out[-3000:]}"
        assert _rpm_q(root, "MariaDB-compat").returncode != 0, out[-3000:]
        assert "left alone: " in result and "MariaDB-compat.x86_64" in result.split("left alone: ", 1)[1], result
        left = result.split("closures: ", 1)[1].split()
        assert all(na.rsplit(".", 1)[0] not in closure for na in left), (left, closure)
    # whatever the phase upgraded is in the role's closure
    installed = subprocess.run(["rpm", "--root", root, "-qa", "--qf", "%{NAME}\n"], capture_output=True,
                               text=True, check=True).stdout.split()
    seeded_names = subprocess.run(["rpm", "--root", seeded, "-qa", "--qf", "%{NAME}\n"], capture_output=True,
                                  text=True, check=True).stdout.split()
    assert set(installed) - set(seeded_names) <= set(closure), set(installed) - set(seeded_names) - set(closure)


# ------------------------------------------------------------------ a real bundle (wcbundle build --site --sign-key)

@pytest.fixture(scope="module")
def real_signed(tmp_path_factory, world_el7):
    """A signed EL7 bundle of every role with the example site, built from the fixture world; extracted."""
    from bundler.carry.verify import extract_bundle
    from tests.support.rpms import make_signing_key as make_key
    from tests.support.rpms import stop_agent
    base = tmp_path_factory.mktemp("real")
    home = base / "gnupg"
    fpr = make_key(home, "wcbundle builder <builder@example.invalid>")
    res = subprocess.run(["wcbundle", "build", "--el", "7", "--out", str(base / "out"), "--cache", str(base / "cache"),
                          "--site", str(TOP / "manifests/site.example.yaml"), "--sign-key", fpr,
                          *world_el7.repo_args], capture_output=True, text=True, timeout=900,
                         env=dict(os.environ, GNUPGHOME=str(home)))
    assert res.returncode == 0, res.stderr[-3000:]
    (tar,) = (base / "out").glob("*.tar")
    yield extract_bundle(tar, base / "x"), fpr
    stop_agent(home)


@pytest.mark.slow
def test_real_bundle_check_info_and_dry_run(real_signed, tmp_path):
    top, fpr = real_signed
    env = dict(os.environ, WCB_ROOT=str(tmp_path / "root"), WCB_TEST_ARCH="x86_64", WCB_FIREWALL_BACKEND="none",
               # no probe of the example site's 10.10.0.x peers from this host (network rule): services not planned
               WCB_SKIP_PHASES="services")
    shutil.copytree(FIXTURES / "root", tmp_path / "root")
    before = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))

    def sh(*args):
        return subprocess.run([str(top / "install.sh"), *args], env=env, capture_output=True, text=True, timeout=300)

    res = sh("--check", "--require-signature", fpr)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"signer: {fpr}" in res.stdout
    res = sh("--check", "--require-signature", "0" * 40)
    assert res.returncode == 2
    res = sh("--info")
    assert res.returncode == 0 and "site:     acme" in res.stdout
    res = sh("--check-site")
    assert res.returncode == 0, res.stdout + res.stderr
    res = sh("--dry-run", "--role", "db-node")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "install MariaDB-server" in res.stdout
    assert "galera.cnf" in res.stdout
    res = sh("--dry-run", "--role", "mq-node,app-node")
    assert res.returncode == 0, res.stdout + res.stderr
    assert ".erlang.cookie" in res.stdout and "WorkCenter-app.yml" in res.stdout
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == before
    secrets = [line.split("=", 1)[1] for line in (top / "site/secrets.env").read_text().splitlines()
               if line.startswith("WCB_")]
    assert not any(s in res.stdout + res.stderr for s in secrets)


# ------------------------------------------------------------------ a real Galera cluster on 127.10.0.x

def _stop_units(roots: list[Path], bundle: Path) -> None:
    """Stop what the lab's direct service seam started under each root (by its pid files only)."""
    for root in roots:
        for unit in ("garb", "mariadb"):
            if (root / f"run/wcbundle/{unit}.pid").exists():
                subprocess.run(["bash", "-c", 'source "$1/lib/common.sh"; source "$1/lib/paths.sh"; wcb_paths_init; '
                                'source "$1/lib/service.sh"; wcb_service_stop "$2"', "_", str(bundle), unit],
                               env=dict(os.environ, WCB_ROOT=str(root), WCB_SERVICE_BACKEND="direct"), timeout=120)


@pytest.mark.slow
def test_install_sh_forms_a_galera_cluster_on_loopback():
    """db1 bootstraps, db2 joins (rsync SST), garbd joins: wsrep_cluster_size 3, and --status is strict."""
    tmp_path, bundle = daemon_readable_bundle("wcb-galera-")
    roots = []
    try:
        for node in ("wc-db1", "wc-db2", "wc-arb"):
            root = tmp_path / f"root-{node}"
            shutil.copytree(FIXTURES / "root", root)
            root.chmod(0o755)
            roots.append(root)
            res = install(bundle, root, "--node", node, skip="packages",
                          extra_env={"WCB_SERVICE_BACKEND": "direct", "WCB_SERVICE_TIMEOUT": "120"})
            assert res.returncode == 0, f"{node}:\n{res.stdout}\n{res.stderr}"
            if node == "wc-db1":
                # a hand edit on the only running member: restored, and the node re-bootstrapped (not restarted)
                with open(root / "etc/my.cnf.d/galera.cnf", "a") as f:
                    f.write("max_connections=7\n")
                res = install(bundle, root, "--node", node, skip="packages",
                              extra_env={"WCB_SERVICE_BACKEND": "direct", "WCB_SERVICE_TIMEOUT": "120"})
                assert res.returncode == 0, res.stdout + res.stderr
                assert "configuration changed on the only running member; stop and re-bootstrap" in res.stdout
                assert "max_connections" not in (root / "etc/my.cnf.d/galera.cnf").read_text()
        plan = install(bundle, roots[0], "--node", "wc-db1", "--dry-run", skip="packages",
                       extra_env={"WCB_SERVICE_BACKEND": "direct"})
        assert plan.returncode == 0, plan.stdout + plan.stderr
        assert "mariadb: running, configuration unchanged" in plan.stdout
        assert "bootstrap" not in plan.stdout.split("[config]", 1)[1]
        env = dict(os.environ, WCB_ROOT=str(roots[0]), WCB_SERVICE_BACKEND="direct")
        st = subprocess.run([str(bundle / "install.sh"), "--status", "--node", "wc-db1"], env=env,
                            capture_output=True, text=True, timeout=120)
        assert st.returncode == 0, st.stdout + st.stderr
        assert "ok     db wsrep_cluster_size          3          3" in st.stdout
        again = install(bundle, roots[1], "--node", "wc-db2", skip="packages",
                        extra_env={"WCB_SERVICE_BACKEND": "direct"})
        assert again.returncode == 0 and "Nothing changed" in again.stdout, again.stdout + again.stderr
        boot = subprocess.run([str(bundle / "install.sh"), "--yes", "--node", "wc-db2", "--bootstrap"],
                              env=dict(env, WCB_ROOT=str(roots[1]), WCB_SKIP_PHASES="packages",
                                       WCB_FIREWALL_BACKEND="none", WCB_TEST_ARCH="x86_64"),
                              capture_output=True, text=True, timeout=300)
        assert boot.returncode == 0, boot.stdout + boot.stderr  # running node: --bootstrap has nothing to do
    finally:
        _stop_units(roots, bundle)
        shutil.rmtree(tmp_path, ignore_errors=True)


@pytest.mark.installroot
@pytest.mark.slow
def test_capture_baseline_is_read_by_bundler_baseline(el7_built, tmp_path):
    """install.sh --capture-baseline on a real EL7 root (the seeded @core) -> bundler.resolve.baseline.load_capture."""
    from bundler.resolve.baseline import load_capture
    bundle, seeded = el7_built
    out = tmp_path / "baseline.txt"
    res = subprocess.run([str(bundle / "install.sh"), "--capture-baseline", str(out)],
                         env=dict(os.environ, WCB_ROOT=str(seeded)), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    names = subprocess.run(["rpm", "--root", seeded, "-qa", "--qf", "%{NAME}\\n"], capture_output=True, text=True,
                           check=True).stdout.split()
    base = load_capture(out)
    got = {p.name for p in base.packages}
    assert got == {n for n in names if n != "gpg-pubkey"}
    assert f"captured {len(names)} packages" in res.stdout
    bash = next(p for p in base.packages if p.name == "bash")
    assert bash.files and bash.provides and bash.requires and base.version == 2   # whole records


@pytest.mark.slow
@pytest.mark.skipif(not Path("/usr/lib/rabbitmq/bin/rabbitmq-server").exists(), reason="rabbitmq-server not installed")
def test_install_sh_configures_a_real_rabbitmq_node():
    """mq-node on a real broker (wc-app1 = 127.10.0.11; wc-app2 never starts): cookie before the first
    start, users (guest gone), ha-all policy; a re-run changes nothing; drift is repaired."""
    tmp, bundle = daemon_readable_bundle("wcb-rabbit-")
    root = tmp / "root"
    shutil.copytree(FIXTURES / "root", root)
    root.chmod(0o755)
    env = {"WCB_SERVICE_BACKEND": "direct", "WCB_SERVICE_TIMEOUT": "180"}

    def ctl(*args: str) -> str:
        res = subprocess.run(["bash", "-c", 'source "$1/lib/common.sh"; source "$1/lib/paths.sh"; source "$1/lib/mq.sh"; '
                              'wcb_paths_init; WCB_NODE=wc-app1; shift; wcb_rabbitmqctl "$@"', "_", str(bundle), *args],
                             env=dict(os.environ, WCB_ROOT=str(root)), capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr
        return res.stdout

    try:
        res = install(bundle, root, "--node", "wc-app1", "--role", "mq-node", skip="packages", extra_env=env)
        assert res.returncode == 0, res.stdout + res.stderr
        assert "warn   mq running nodes               2          1 (missing rabbit@wc-app2)" in res.stdout
        users = ctl("list_users", "-q", "--no-table-headers")
        assert "wcadmin\t[administrator]" in users and "workcenter\t[]" in users and "guest" not in users
        assert "\tha-all\t" in ctl("list_policies", "-q", "--no-table-headers")
        assert "rabbit@wc-app1" in ctl("cluster_status")
        again = install(bundle, root, "--node", "wc-app1", "--role", "mq-node", skip="packages", extra_env=env)
        assert again.returncode == 0 and "Nothing changed" in again.stdout, again.stdout + again.stderr
        ctl("clear_permissions", "-p", "/", "workcenter")
        fixed = install(bundle, root, "--node", "wc-app1", "--role", "mq-node", skip="packages", extra_env=env)
        assert fixed.returncode == 0 and "Done: 1 change on wc-app1" in fixed.stdout, fixed.stdout + fixed.stderr
        assert "workcenter\t.*\t.*\t.*" in ctl("list_permissions", "-p", "/", "-q", "--no-table-headers")
        secrets = [line.split("=", 1)[1] for line in (bundle / "site/secrets.env").read_text().splitlines()
                   if line.startswith("WCB_")]
        logs = "".join(p.read_text(errors="replace") for p in (root / "var/log").rglob("*") if p.is_file())
        assert not any(s in logs + res.stdout + again.stdout + fixed.stdout for s in secrets)
        # a crash dump holds the VM's memory, the cookie included: the drop-in the installer wrote puts
        # it beside the cookie, 0600 (the broker crashes here on purpose: erlang:halt with a slogan)
        dropin = root / "etc/systemd/system/rabbitmq-server.service.d/wcbundle.conf"
        assert "Environment=ERL_CRASH_DUMP=/var/lib/rabbitmq/erl_crash.dump\nUMask=0077\n" in dropin.read_text()
        subprocess.run(["bash", "-c", 'source "$1/lib/common.sh"; source "$1/lib/paths.sh"; source "$1/lib/mq.sh"; '
                        'wcb_paths_init; WCB_NODE=wc-app1; wcb_rabbitmqctl eval \'erlang:halt("wcbundle test: crash dump").\'',
                        "_", str(bundle)], env=dict(os.environ, WCB_ROOT=str(root)), capture_output=True, timeout=60)
        dump = root / "var/lib/rabbitmq/erl_crash.dump"
        for _ in range(120):   # bounded: 60 s for the dump to be complete
            if dump.exists() and "=end" in dump.read_text(errors="replace")[-200:]:
                break
            time.sleep(0.5)
        text = dump.read_text(errors="replace")
        assert "Slogan: wcbundle test: crash dump" in text
        assert (root / "var/lib/rabbitmq/.erlang.cookie").read_text() in text
        assert dump.stat().st_mode & 0o777 == 0o600
        assert not list((root / "var/log").rglob("erl_crash.dump"))
    finally:
        subprocess.run(["bash", "-c", 'source "$1/lib/common.sh"; source "$1/lib/paths.sh"; wcb_paths_init; '
                        'source "$1/lib/service.sh"; wcb_service_stop rabbitmq-server', "_", str(bundle)],
                       env=dict(os.environ, WCB_ROOT=str(root), WCB_SERVICE_BACKEND="direct"), timeout=180)
        shutil.rmtree(tmp, ignore_errors=True)
