"""The installability proof: a real `dnf --installroot` installs every role from the bundle alone.

For each EL7 role and each EL9 role: build the bundle once (real `wcbundle build`
against the fixture world), extract it with the verifying tarsafe extractor,
copy a root seeded with the baseline (@core from the world's base repo), then
install the role's requested packages (bundle.env's WCB_ROLE_PACKAGES_*) with
`--disablerepo='*'` and ONLY the bundle's repo/: gpgcheck=1, gpgkey = the
bundle's keys/ (bundle.env's WCB_GPG_KEYS), module_hotfixes=1 on EL8/9 as
install.sh's templates/wcbundle.repo has it. Every requested package must then
be installed (`rpm --root ... -q`).

Debian's dnf 4 drives the EL roots: --releasever/--forcearch set the target,
tsflags=noscripts because the fixture RPMs' payloads are placeholders, and on EL9
module_platform_id=platform:el9 because the fixture root's /etc/os-release is a
placeholder too (dnf would read the platform from it).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bundler.cli import main
from bundler.core.run import run

pytestmark = [pytest.mark.integration, pytest.mark.installroot, pytest.mark.slow]

BASE_REPO = {7: "c7-os", 8: "el8-baseos", 9: "el9-baseos"}


def bundle_env(top: Path) -> dict[str, str]:
    """bundle.env as bash sees it (it is sourced by install.sh, so bash is the parser to trust)."""
    res = run(["bash", "-c", 'set -a; source "$1"; env -0', "_", top / "bundle.env"], check=False,
              env={"LC_ALL": "C"})
    assert res.returncode == 0, res.stderr
    pairs = (item.split("=", 1) for item in res.stdout.split("\0") if item.startswith("WCB_"))
    return dict(pairs)


def build_bundle(tmp: Path, el: int, *extra: str) -> Path:
    """`wcbundle build` against the world (file:// repos); returns the extracted, verified top dir."""
    from bundler.carry.verify import extract_bundle
    from scripts.world import ensure
    world = ensure(el)
    out = tmp / "out"
    rc = main(["-q", "build", "--el", str(el), *world.repo_args(world.root.as_uri()),
               "--cache", str(tmp / "cache"), "--out", str(out), *extra])
    assert rc == 0, f"wcbundle build --el {el} failed with exit code {rc}"
    (tar,) = out.glob("*.tar")
    return extract_bundle(tar, tmp / "x")


def _dnf(root: Path, el: int, reposdir: Path, *args: str, weak: bool = False) -> list[str]:
    argv = ["dnf", "-y", f"--installroot={root}", f"--releasever={el}", "--forcearch=x86_64",
            f"--setopt=reposdir={reposdir}", f"--setopt=cachedir={reposdir.parent / 'dnf-cache'}",
            "--nodocs", f"--setopt=install_weak_deps={weak}", "--setopt=tsflags=noscripts",
            "--setopt=keepcache=False", "--disablerepo=*"]
    if el >= 8:
        argv.append(f"--setopt=module_platform_id=platform:el{el}")
    return argv + list(args)


def _write_repo(reposdir: Path, repo_id: str, baseurl: str, keys: list[str], hotfixes: bool) -> None:
    reposdir.mkdir(parents=True, exist_ok=True)
    for old in reposdir.glob("*.repo"):
        old.unlink()
    text = (f"[{repo_id}]\nname={repo_id}\nbaseurl={baseurl}\nenabled=1\ngpgcheck=1\nrepo_gpgcheck=0\n"
            f"gpgkey={' '.join(keys)}\nskip_if_unavailable=0\n")
    if hotfixes:
        text += "module_hotfixes=1\n"
    (reposdir / f"{repo_id}.repo").write_text(text)


def seed_root(tmp: Path, el: int) -> Path:
    """A root with the target baseline: `dnf group install core` from the world's base repo, weak deps
    on as the installer has them (what `--baseline minimal` models)."""
    from scripts.world import ensure
    world = ensure(el)
    base = BASE_REPO[el]
    root, reposdir = tmp / "root", tmp / "repos.d"
    root.mkdir(parents=True)
    _write_repo(reposdir, base, world.repos[base].as_uri() + "/", [world.keys[base].as_uri()], False)
    res = run(_dnf(root, el, reposdir, f"--enablerepo={base}", "group", "install", "core", weak=True), check=False)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    return root


def install_role(bundle: Path, seeded: Path, work: Path, role: str | list[str], el: int, hotfixes: bool | None = None,
                 repo: Path | None = None, check: bool = True) -> tuple[Path, str]:
    """Copy the seeded root and install the role (or several roles, as one host holding them: one dnf
    transaction) from the bundle's repo alone; (root, dnf output).
    hotfixes defaults to install.sh's choice (module_hotfixes=1 on EL8/9)."""
    root = work / "root"
    shutil.copytree(seeded, root, symlinks=True)
    env = bundle_env(bundle)
    keys = [(bundle / k).as_uri() for k in env["WCB_GPG_KEYS"].split()]
    reposdir = work / "repos.d"
    hotfixes = el >= 8 if hotfixes is None else hotfixes
    _write_repo(reposdir, env["WCB_REPO_ID"], (repo or bundle / "repo").as_uri() + "/", keys, hotfixes)
    roles = [role] if isinstance(role, str) else role
    pkgs = [p for r in roles for p in env[f"WCB_ROLE_PACKAGES_{r.replace('-', '_')}"].split()]
    res = run(_dnf(root, el, reposdir, f"--enablerepo={env['WCB_REPO_ID']}", "install", *pkgs), check=False)
    out = res.stdout + res.stderr
    assert res.returncode == 0 or not check, f"dnf could not install role {role} from the bundle alone:\n{out[-3000:]}"
    return root, out


def rpm_q(root: Path, *names: str) -> tuple[int, str]:
    res = run(["rpm", "--root", root, "-q", *names], check=False)
    return res.returncode, res.stdout + res.stderr


@pytest.fixture(scope="session")
def el7_bundle(tmp_path_factory):
    return build_bundle(tmp_path_factory.mktemp("b7"), 7)


@pytest.fixture(scope="session")
def el9_bundle(tmp_path_factory):
    return build_bundle(tmp_path_factory.mktemp("b9"), 9)


@pytest.fixture(scope="session")
def el8_bundle(tmp_path_factory):
    return build_bundle(tmp_path_factory.mktemp("b8"), 8)


@pytest.fixture(scope="session")
def el9_modular_bundle(tmp_path_factory):
    # A custom role whose closure is modular on the EL9 world (AppStream's default
    # mariadb:10.5 stream), so the bundle must carry the module documents. (Not mariadb-server:
    # the vendor's MariaDB-server obsoletes it, so dnf, and wcbundle, install that one instead.)
    return build_bundle(tmp_path_factory.mktemp("b9m"), 9, "--install", "mariadb-errmsg")


@pytest.fixture(scope="session")
def seeded7(tmp_path_factory):
    return seed_root(tmp_path_factory.mktemp("seed7"), 7)


@pytest.fixture(scope="session")
def seeded8(tmp_path_factory):
    return seed_root(tmp_path_factory.mktemp("seed8"), 8)


@pytest.fixture(scope="session")
def seeded9(tmp_path_factory):
    return seed_root(tmp_path_factory.mktemp("seed9"), 9)


def _assert_role_installed(bundle: Path, root: Path, role: str) -> None:
    pkgs = bundle_env(bundle)[f"WCB_ROLE_PACKAGES_{role.replace('-', '_')}"].split()
    assert pkgs, f"bundle.env names no packages for {role}"
    rc, out = rpm_q(root, *pkgs)
    assert rc == 0, f"role {role}: not every package is installed:\n{out}"


@pytest.mark.parametrize("role", ["app-node", "arbitrator", "db-node", "mq-node", "control-node"])
def test_el7_role_installs_from_bundle_alone(el7_bundle, seeded7, tmp_path, role):
    assert role in bundle_env(el7_bundle)["WCB_ROLES"].split()
    root, _ = install_role(el7_bundle, seeded7, tmp_path, role, 7)
    _assert_role_installed(el7_bundle, root, role)


def test_el7_db_node_replaces_mariadb_libs_with_compat(el7_bundle, seeded7, tmp_path):
    rc, out = rpm_q(seeded7, "mariadb-libs")
    assert rc == 0, f"the @core baseline should carry mariadb-libs (postfix needs it): {out}"
    root, _ = install_role(el7_bundle, seeded7, tmp_path, "db-node", 7)
    rc, out = rpm_q(root, "mariadb-libs")
    assert rc != 0 and "not installed" in out, f"mariadb-libs survived the db-node install: {out}"
    rc, out = rpm_q(root, "MariaDB-compat", "postfix")
    assert rc == 0, out


def test_el7_gpgcheck_is_enforced(el7_bundle, seeded7, tmp_path):
    """Control: with only the base OS key, dnf refuses the vendor packages, so the
    installs above really checked every signature against the bundle's keys/."""
    root = tmp_path / "root"
    shutil.copytree(seeded7, root, symlinks=True)
    env = bundle_env(el7_bundle)
    _write_repo(tmp_path / "repos.d", "wcbundle", (el7_bundle / "repo").as_uri() + "/",
                [(el7_bundle / "keys" / "RPM-GPG-KEY-c7-os").as_uri()], False)
    res = run(_dnf(root, 7, tmp_path / "repos.d", "--enablerepo=wcbundle", "install",
                   *env["WCB_ROLE_PACKAGES_mq_node"].split()), check=False)
    assert res.returncode != 0
    assert "GPG" in res.stdout + res.stderr or "public key" in res.stdout + res.stderr
    assert rpm_q(root, "rabbitmq-server")[0] != 0


@pytest.mark.parametrize("role", ["app-node", "arbitrator", "db-node", "mq-node", "control-node"])
def test_el9_role_installs_from_bundle_alone(el9_bundle, seeded9, tmp_path, role):
    root, _ = install_role(el9_bundle, seeded9, tmp_path, role, 9)
    _assert_role_installed(el9_bundle, root, role)


def test_el9_modular_package_installs_from_bundle(el9_modular_bundle, seeded9, tmp_path):
    """module_hotfixes=0: dnf applies modularity, so it must find the module in the bundle's modules.yaml."""
    from bundler.assemble.localrepo import repomd_types
    assert "modules" in repomd_types(el9_modular_bundle / "repo")
    root, _ = install_role(el9_modular_bundle, seeded9, tmp_path, "custom", 9, hotfixes=False)
    res = run(["rpm", "--root", root, "-q", "mariadb-errmsg", "mariadb-common", "--qf", "%{MODULARITYLABEL}\n"],
              check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    labels = res.stdout.splitlines()
    assert len(labels) == 2 and all(x.startswith("mariadb:10.5:") for x in labels), \
        f"mariadb-errmsg/mariadb-common are not the default stream's modular builds: {labels!r}"


def test_el9_modular_package_needs_the_modules_metadata(el9_modular_bundle, seeded9, tmp_path):
    """Control: the same RPMs indexed without modules.yaml hit the field's error (trap 2)."""
    bare = tmp_path / "bare"
    shutil.copytree(el9_modular_bundle / "repo" / "Packages", bare / "Packages")
    from bundler.assemble.localrepo import create_repo
    create_repo(bare, 9)
    _, out = install_role(el9_modular_bundle, seeded9, tmp_path / "w", "custom", 9, hotfixes=False, repo=bare,
                          check=False)
    assert "No available modular metadata for modular package" in out, out[-2000:]


@pytest.mark.parametrize("role", ["app-node", "arbitrator", "db-node", "mq-node", "control-node"])
def test_el8_role_installs_from_bundle_alone(el8_bundle, seeded8, tmp_path, role):
    """EL8 (module_platform_id=platform:el8, the bundle repo module_hotfixes as install.sh writes it):
    every role installs on the @core root from the bundle alone, gpgcheck on."""
    root, _ = install_role(el8_bundle, seeded8, tmp_path, role, 8)
    _assert_role_installed(el8_bundle, root, role)
    if role == "db-node":   # the vendor's MariaDB-server, and EL8's modular perl-DBI with its label
        res = run(["rpm", "--root", root, "-q", "MariaDB-server", "perl-DBI", "--qf", "%{VENDOR}|%{MODULARITYLABEL}\n"])
        server, dbi = res.stdout.splitlines()
        assert server.endswith("|(none)") and dbi.endswith("|perl-DBI:1.641:8090020231016030935:88fd4976"), res.stdout


def test_el7_bundle_built_from_a_capture_installs_on_that_target(seeded7, tmp_path):
    """The documented capture command, run on the seeded root's rpmdb, is the --baseline of a build; the
    db-node role of that bundle then installs there from the bundle alone (gpgcheck on)."""
    from bundler.resolve.baseline import CAPTURE_FORMAT, load_capture
    capture = tmp_path / "baseline.txt"
    capture.write_text(run(["rpm", "--root", seeded7, "-qa", "--qf", CAPTURE_FORMAT]).stdout)
    base = load_capture(capture)
    assert base.version == 2 and len(base.packages) > 250 and any(p.requires for p in base.packages)
    bundle = build_bundle(tmp_path / "b", 7, "--role", "db-node", "--baseline", str(capture))
    root, _ = install_role(bundle, seeded7, tmp_path / "w", "db-node", 7)
    _assert_role_installed(bundle, root, "db-node")


# ------------------------------------------------------------------ roles that share a host (joint solve)

def _site_with(tmp: Path, node: str, roles: list[str]) -> Path:
    """The example site with `node` holding `roles` (README: control-node next to a host's other roles)."""
    text = (Path(__file__).resolve().parents[2] / "manifests" / "site.example.yaml").read_text()
    old = f"  - name: {node}\n    ip: 10.10.0.11\n    roles: [app-node, mq-node]\n"
    assert old in text, "the example site changed: adapt this test"
    site = tmp / "site.yaml"
    site.write_text(text.replace(old, f"  - name: {node}\n    ip: 10.10.0.11\n    roles: [{', '.join(roles)}]\n"))
    return site


@pytest.fixture(scope="session")
def el7_shared(tmp_path_factory):
    """{form: extracted bundle} for mq-node + control-node on one host: selected alone (no site: every
    selected role is solved together too) and through a site whose node wc-app1 holds both."""
    tmp = tmp_path_factory.mktemp("b7j")
    site = _site_with(tmp, "wc-app1", ["app-node", "mq-node", "control-node"])
    return {"roles": build_bundle(tmp / "r", 7, "--role", "mq-node", "--role", "control-node"),
            "site": build_bundle(tmp / "s", 7, "--site", str(site))}


def _evr(root: Path, name: str) -> str:
    res = run(["rpm", "--root", root, "-q", name, "--qf", "%{EPOCH}:%{VERSION}-%{RELEASE}\n"], check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout.strip()


@pytest.mark.parametrize("form", ["roles", "site"])
def test_el7_roles_sharing_a_host_install_together(el7_shared, seeded7, tmp_path, form):
    """The review's defect: each role's closure alone takes another openssl (control-node: c7-os's -12,
    the baseline's; mq-node: openssl-libs -26 for erlang), so a union of per-role closures cannot install
    both roles on one host. The joint solve adds what they need together; dnf (gpgcheck on) installs
    them in one transaction from the bundle alone."""
    from bundler.lock import load
    bundle = el7_shared[form]
    lock = load(bundle / "bundle.json")
    roles = ["mq-node", "control-node"] + (["app-node"] if form == "site" else [])
    key = "+".join(sorted(roles))
    want = {key} | ({"app-node+mq-node"} if form == "site" else set())   # wc-app2 holds app-node + mq-node
    assert set(lock.joint) == want, f"joint jobs {sorted(lock.joint)}, expected {sorted(want)}"
    assert sorted(lock.joint[key].requested) == sorted({n for r in roles for n in lock.roles[r].requested})
    root, _ = install_role(bundle, seeded7, tmp_path, roles, 7)
    for role in roles:
        _assert_role_installed(bundle, root, role)
    assert _evr(root, "openssl") == _evr(root, "openssl-libs")   # openssl requires its libs' exact EVR


def test_el7_per_role_union_alone_cannot_install_both(el7_shared, seeded7, tmp_path):
    """Control: the same bundle's RPMs without those only the joint job brought (the per-role union, the
    lock before this fix), indexed by createrepo_c: dnf refuses mq-node + control-node together."""
    from bundler.assemble.localrepo import create_repo
    from bundler.lock import load
    bundle = el7_shared["roles"]
    lock = load(bundle / "bundle.json")
    joint_only = {p.filename for p in lock.packages if not p.roles}
    assert joint_only, "the joint job added nothing: the per-role closures agree, so this control proves nothing"
    bare = tmp_path / "bare"
    (bare / "Packages").mkdir(parents=True)
    for rpm in (bundle / "repo" / "Packages").iterdir():
        if rpm.name not in joint_only:
            shutil.copy2(rpm, bare / "Packages" / rpm.name)
    create_repo(bare, 7)
    _, out = install_role(bundle, seeded7, tmp_path / "w", ["mq-node", "control-node"], 7, repo=bare, check=False)
    assert "openssl" in out and ("conflict" in out.lower() or "cannot install" in out.lower()), out[-3000:]
