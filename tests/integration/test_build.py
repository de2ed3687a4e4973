"""`wcbundle build` end to end against the EL7 fixture world served by scripts/mirror.py.

Covers: warm rebuild downloads nothing (the mirror's request log), a package whose
bytes do not match the lock fails precisely and leaves nothing in the cache or
--out, a transient reset is resumed with Range, a wrong repo key fails the
signature step, the bundle's bundle.json / bundle.env / MANIFEST.sha256 shape,
each RPM stored once across roles, --sign-key wiring, and a full disk.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from bundler.cli import main
from bundler.core.run import run

pytestmark = [pytest.mark.integration]

ENV_KEYS = ["WCB_BUNDLE_NAME", "WCB_BUNDLE_ID", "WCB_TOOL_VERSION", "WCB_BUILD_TIME", "WCB_EL", "WCB_ARCH",
            "WCB_PKG_MANAGER", "WCB_REPO_ID", "WCB_GPG_KEYS", "WCB_ROLES", "WCB_ROLE_PACKAGES_db_node",
            "WCB_ROLE_PACKAGES_mq_node", "WCB_ROLE_PACKAGES_app_node", "WCB_ROLE_PACKAGES_arbitrator",
            "WCB_ROLE_PACKAGES_control_node", "WCB_ROLE_CLOSURE_db_node", "WCB_ROLE_CLOSURE_mq_node",
            "WCB_ROLE_CLOSURE_app_node", "WCB_ROLE_CLOSURE_arbitrator", "WCB_ROLE_CLOSURE_control_node",
            "WCB_MODULE_DISABLE", "WCB_RABBITMQ_VERSION", "WCB_ERLANG_VERSION", "WCB_MARIADB_VERSION",
            "WCB_REQUIRED_KB", "WCB_SIGNED", "WCB_SIGNER_FPR",
            "WCB_LOCK_SHA256", "WCB_BUNDLE_KIND", "WCB_BASE_BUNDLE_ID", "WCB_BASE_LOCK_SHA256"]


@pytest.fixture
def world7(world_el7):
    return world_el7.world


@pytest.fixture
def mirror7(world_el7, mirror_factory):
    """A mirror of its own per test: faults and the request log never leak between tests."""
    return mirror_factory(world_el7.root)


def build(world, mirror, tmp: Path, *extra: str, cache: Path | None = None, out: Path | None = None,
          capsys=None, quiet: bool = True) -> tuple[int, str, str]:
    argv = ["-q"] * quiet + ["build", "--el", "7", *world.repo_args(mirror.url), "--cache", str(cache or tmp / "cache"),
            "--out", str(out or tmp / "out"), *extra]
    rc = main(argv)
    if capsys is None:
        return rc, "", ""
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def rpm_requests(mirror) -> list:
    return [e for e in mirror.log if e.path.endswith(".rpm")]


def _members(tar: Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(tar) as t:
        return {m.name: m for m in t.getmembers()}


def test_warm_rebuild_downloads_nothing(world7, mirror7, tmp_path, capsys):
    rc, out, _ = build(world7, mirror7, tmp_path, "--role", "mq-node", "--role", "app-node", capsys=capsys)
    assert rc == 0
    cold = rpm_requests(mirror7)
    assert cold and sum(e.bytes_sent for e in cold) > 0
    mirror7.reset_log()
    rc, out2, err2 = build(world7, mirror7, tmp_path, "--role", "mq-node", "--role", "app-node", capsys=capsys,
                           quiet=False)
    assert rc == 0
    # stages with timings on stderr; stdout holds only the result (path, sha256, summary)
    # every pipeline step (bundler/pipeline.py) is announced and timed, and so are pack's sub-steps
    stages = ("[1/5] Resolving", "[2/5] Downloading", "[3/5] Checking RPM signatures",
              "[4/5] Making the bundle's package repository", "- repo (createrepo_c):", "localrepo done in",
              "[5/5] Packing", "- SBOM (SPDX):", "- report.html:", "- MANIFEST.sha256:", "- tar + sidecar:",
              "pack done in")
    for stage in stages:
        assert stage in err2, stage
    assert [err2.index(s) for s in stages] == sorted(err2.index(s) for s in stages), err2
    assert len(out2.splitlines()) == 3 and out2.splitlines()[1].startswith("sha256: ")
    assert rpm_requests(mirror7) == [], "a warm rebuild must not download any package"
    assert "0 downloaded" in out2 and out.splitlines()[0] != out2.splitlines()[0]  # -2 suffix, same day
    assert out2.splitlines()[0].endswith("-2.tar")


def test_mismatching_package_fails_precisely_and_leaves_nothing(world7, mirror7, tmp_path, capsys):
    victim = "galera-4-26.4.20-*.rpm"
    mirror7.set_fault(f"*/{victim}", "flip")
    rc, out, err = build(world7, mirror7, tmp_path, "--role", "arbitrator", capsys=capsys)
    assert rc == 5, err
    msg = " ".join(err.split())
    assert "could not download galera-4-0:26.4.20-1.el7.centos.x86_64 (repo 'mariadb'" in msg
    url = f"{mirror7.url}/el7/mariadb/"
    assert url in msg and "checksum mismatch (got sha256:" in msg
    (real,) = world7.repos["mariadb"].rglob(victim)
    hexd = hashlib.sha256(real.read_bytes()).hexdigest()
    assert f"Expected sha256:{hexd}" in msg
    leftovers = list((tmp_path / "cache" / "pkgs").rglob(f"{hexd}*"))
    assert leftovers == [], f"bad bytes were left in the cache: {leftovers}"
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_transient_reset_is_resumed(world7, mirror7, tmp_path, capsys):
    mirror7.set_fault("*/erlang-23.3.4.18-*.rpm", "reset", times=1)
    rc, _, err = build(world7, mirror7, tmp_path, "--role", "mq-node", capsys=capsys)
    assert rc == 0, err
    reqs = mirror7.requests_for("*/erlang-23.3.4.18-*.rpm")
    assert len(reqs) == 2 and reqs[0].fault == "reset"
    assert reqs[1].range is not None and reqs[1].range.startswith("bytes=") and reqs[1].status == 206


def test_wrong_repo_key_fails_the_signature_step(world7, mirror7, tmp_path, capsys):
    args = world7.repo_args(mirror7.url)
    i = args.index(f"mariadb={world7.keys['mariadb'].resolve().as_uri()}")
    args[i] = f"mariadb={world7.keys['c7-os'].resolve().as_uri()}"
    # pinned too (a key that is not pinned fails earlier, see test_pins.py): the RPM check is what fails
    j = args.index(f"mariadb={world7.fingerprints['mariadb']}")
    args[j] = f"mariadb={world7.fingerprints['c7-os']}"
    rc = main(["-q", "build", "--el", "7", *args, "--role", "arbitrator", "--cache", str(tmp_path / "c"),
               "--out", str(tmp_path / "out")])
    err = " ".join(capsys.readouterr().err.split())
    assert rc == 7, err
    assert "galera-4-0:26.4.20-1.el7.centos.x86_64 (repo 'mariadb')" in err and "NOKEY" in err
    assert "RPM-GPG-KEY-c7-os" in err
    assert not list((tmp_path / "out").glob("*.tar"))


@pytest.fixture(scope="module")
def full_bundle(world_el7, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("full")
    rc = main(["-q", "build", "--el", "7", *world_el7.repo_args, "--cache", str(tmp / "cache"),
               "--out", str(tmp / "out"), "--site", "manifests/site.example.yaml", "--allow-unsigned", "c7-extras"])
    assert rc == 0
    (tar,) = (tmp / "out").glob("*.tar")
    return tar


def test_bundle_shape(full_bundle, tmp_path):
    tar = full_bundle
    top = tar.name[:-len(".tar")]
    side = tar.with_name(tar.name + ".sha256").read_text()
    assert side == f"{hashlib.sha256(tar.read_bytes()).hexdigest()}  {tar.name}\n"
    assert tar.with_name(f"{top}.report.html").is_file()
    members = _members(tar)
    assert all(n == top or n.startswith(top + "/") for n in members)
    assert all(m.uid == 0 and m.gid == 0 for m in members.values())
    assert len({m.mtime for m in members.values()}) == 1
    assert list(members) == sorted(members, key=lambda n: n.split("/")), "members are not sorted"
    for rel in ("install.sh", "bundle.json", "bundle.env", "MANIFEST.sha256", "sbom.spdx.json", "report.html",
                "site/flows.tsv", "site/site.env", "site/secrets.env", "repo/repodata/repomd.xml",
                "keys/RPM-GPG-KEY-mariadb"):
        assert f"{top}/{rel}" in members, rel
    assert members[f"{top}/install.sh"].mode & 0o111
    assert members[f"{top}/site/secrets.env"].mode & 0o777 == 0o600
    with tarfile.open(tar) as t:
        t.extractall(tmp_path, filter="data") if hasattr(tarfile, "data_filter") else t.extractall(tmp_path)  # noqa: S202
    tree = tmp_path / top
    # MANIFEST.sha256: sha256sum -c format, sorted, every other file
    manifest = (tree / "MANIFEST.sha256").read_text().splitlines()
    listed = [line.split("  ", 1)[1] for line in manifest]
    assert listed == sorted(listed)
    files = sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file())
    assert listed == [f for f in files if f != "MANIFEST.sha256"]
    res = subprocess.run(["sha256sum", "--quiet", "-c", "MANIFEST.sha256"], cwd=tree,  # noqa: S603,S607
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    # bundle.json
    bj = json.loads((tree / "bundle.json").read_text())
    assert set(bj) == {"lock", "build", "site"} and bj["site"]["name"] == "acme"
    b = bj["build"]
    assert b["tool_version"] and b["time"].endswith("Z") and b["builder_os"]["system"] == "Linux"
    assert b["manifest"]["sha256"] == bj["lock"]["manifest"]["sha256"]
    assert b["allow_unsigned"] == ["c7-extras"] and b["signatures"]["signed_ok"] == len(bj["lock"]["packages"])
    # bundle.env, as bash reads it
    res = subprocess.run(["bash", "-c", 'set -a; source ./bundle.env; env -0'], cwd=tree,  # noqa: S603,S607
                         capture_output=True, text=True)
    env = dict(kv.split("=", 1) for kv in res.stdout.split("\0") if kv.startswith("WCB_"))
    assert sorted(env) == sorted(ENV_KEYS)
    assert env["WCB_BUNDLE_ID"] == top and env["WCB_PKG_MANAGER"] == "yum" and env["WCB_EL"] == "7"
    assert env["WCB_ROLES"] == "app-node arbitrator control-node db-node mq-node"
    assert env["WCB_RABBITMQ_VERSION"] == "3.9.16" and env["WCB_ERLANG_VERSION"] == "23.3.4.18"
    assert env["WCB_MARIADB_VERSION"].startswith("10.11.")
    assert all((tree / k).is_file() for k in env["WCB_GPG_KEYS"].split())
    assert env["WCB_SIGNED"] == "0" and env["WCB_SIGNER_FPR"] == ""
    # each role's closure: the names of its lock entries (what its own solve installs or upgrades), which
    # install.sh keeps the host's upgrades to; never the whole repo
    for role in bj["lock"]["roles"]:
        names = sorted({p["name"] for p in bj["lock"]["packages"] if role in p["roles"]})
        assert names, role
        assert env[f"WCB_ROLE_CLOSURE_{role.replace('-', '_')}"] == " ".join(names), role
    assert "MariaDB-compat" in env["WCB_ROLE_CLOSURE_db_node"].split()   # it replaces @core's mariadb-libs
    for role in ("mq_node", "app_node", "control_node"):
        assert "MariaDB-compat" not in env[f"WCB_ROLE_CLOSURE_{role}"].split(), role
    every = {p["name"] for p in bj["lock"]["packages"]}
    assert all(set(env[f"WCB_ROLE_CLOSURE_{r}"].split()) < every for r in ("mq_node", "app_node", "db_node"))
    # EL7 repodata is gzip only (EL7 yum cannot read zstd)
    assert all(p.name == "repomd.xml" or p.name.endswith(".gz") for p in (tree / "repo/repodata").iterdir())


def test_rpms_are_stored_once_across_roles(full_bundle):
    members = _members(full_bundle)
    rpms = [n for n in members if "/repo/Packages/" in n]
    assert len(rpms) == len(set(rpms))
    top = full_bundle.name[:-len(".tar")]
    with tarfile.open(full_bundle) as t:
        lock = json.load(t.extractfile(f"{top}/bundle.json"))["lock"]
    assert len(rpms) == len({p["checksum"] for p in lock["packages"]})
    galera = next(p for p in lock["packages"] if p["name"] == "galera-4")
    assert set(galera["roles"]) >= {"arbitrator", "db-node"}
    assert sum(1 for n in rpms if n.rsplit("/", 1)[1].startswith("galera-4-")) == 1


def test_signed_build_verifies_with_the_printed_fingerprint(world7, mirror7, tmp_path, capsys, monkeypatch):
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    monkeypatch.setenv("GNUPGHOME", str(home))
    run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", "Bundle Signer <signer@test.invalid>",
         "rsa2048", "sign", "never"])
    rc, out, err = build(world7, mirror7, tmp_path, "--role", "arbitrator", "--sign-key", "signer@test.invalid",
                         capsys=capsys)
    assert rc == 0, err
    fpr = next(line.split()[2] for line in out.splitlines() if line.startswith("Signed by:"))
    tar = Path(out.splitlines()[0])
    assert tar.with_name(tar.name + ".sha256.asc").is_file()
    assert main(["verify", str(tar), "--require-signature", fpr]) == 0
    capsys.readouterr()
    assert main(["verify", str(tar), "--require-signature", "A" * 40]) == 7
    run(["gpgconf", "--homedir", home, "--kill", "gpg-agent"], check=False)


def test_format_dir_and_full_disk(world7, mirror7, tmp_path, capsys):
    rc, out, err = build(world7, mirror7, tmp_path, "--role", "arbitrator", "--format", "dir", capsys=capsys)
    assert rc == 0, err
    tree = Path(out.splitlines()[0])
    assert tree.is_dir() and (tree / "MANIFEST.sha256").is_file()
    assert [p.name for p in tree.parent.iterdir()] == [tree.name], "staging left behind"
    assert main(["verify", str(tree)]) == 0
    # A real full disk: a 1 MiB tmpfs cannot hold the bundle (needs root to mount).
    small = tmp_path / "small"
    small.mkdir()
    if run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", small], check=False).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (not root)")
    try:
        rc, _, err = build(world7, mirror7, tmp_path, "--role", "arbitrator", out=small, capsys=capsys)
        assert rc == 8, err
        assert "no space left" in err.lower() or "No space left" in err
        assert list(small.iterdir()) == [], "a failed build left files behind"
    finally:
        run(["umount", small], check=False)


def test_option_errors_fail_before_any_download(world7, mirror7, tmp_path, capsys, monkeypatch):
    rc, _, err = build(world7, mirror7, tmp_path, "--role", "arbitrator", "--allow-unsigned", "nosuch",
                       capsys=capsys)
    assert rc == 3 and "--allow-unsigned names nosuch" in err and "Traceback" not in err
    monkeypatch.setenv("GNUPGHOME", str(tmp_path / "empty-gnupg"))
    (tmp_path / "empty-gnupg").mkdir(mode=0o700)
    rc, _, err = build(world7, mirror7, tmp_path, "--role", "arbitrator", "--sign-key", "nobody@test.invalid",
                       capsys=capsys)
    assert rc == 7 and "nobody@test.invalid" in err
    rc, _, err = build(world7, mirror7, tmp_path, "--format", "dir", "--split", "1M", capsys=capsys)
    assert rc == 3 and "--split needs --format tar" in err
    assert rpm_requests(mirror7) == []
    assert not (tmp_path / "cache" / "pkgs").exists()


def test_split_parts_verify(world7, mirror7, tmp_path, capsys):
    rc, out, err = build(world7, mirror7, tmp_path, "--role", "db-node", "--split", "2M", capsys=capsys)
    assert rc == 0, err
    lines = out.splitlines()
    parts = [Path(p) for p in lines if ".part" in p and p.endswith(tuple("0123456789"))]
    assert len(parts) >= 2 and all(p.stat().st_size <= 2 * 2**20 for p in parts)
    assert main(["verify", str(parts[0])]) == 0


def test_repo_keys_over_http(world7, mirror7, tmp_path, capsys):
    args = [a if not a.startswith("mariadb=file:") else f"mariadb={mirror7.url}/el7/keys/RPM-GPG-KEY-mariadb"
            for a in world7.repo_args(mirror7.url)]
    rc = main(["-q", "build", "--el", "7", *args, "--role", "arbitrator", "--cache", str(tmp_path / "c"),
               "--out", str(tmp_path / "out"), "--format", "dir"])
    assert rc == 0, capsys.readouterr().err
    assert mirror7.requests_for("*/keys/RPM-GPG-KEY-mariadb")
    (tree,) = (tmp_path / "out").iterdir()
    assert (tree / "keys" / "RPM-GPG-KEY-mariadb").read_bytes() == world7.keys["mariadb"].read_bytes()


def test_same_lock_and_source_date_epoch_give_the_same_bytes(world7, mirror7, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1764172800")
    shas = []
    for n in (1, 2):
        rc, out, err = build(world7, mirror7, tmp_path, "--role", "arbitrator", out=tmp_path / f"o{n}",
                             capsys=capsys)
        assert rc == 0, err
        shas.append(out.splitlines()[1])
    assert shas[0] == shas[1] and shas[0].startswith("sha256: ")


def test_interrupted_build_resumes_the_partial_download(world7, mirror7, tmp_path, capsys):
    victim = "*/java-1.8.0-openjdk-headless-*.rpm"
    mirror7.set_fault(victim, "reset")  # every try: half the body, then RST
    rc, _, err = build(world7, mirror7, tmp_path, "--role", "app-node", capsys=capsys)
    assert rc == 5 and "try 3/3" in err, err
    (part,) = (tmp_path / "cache" / "pkgs").rglob("*.part")  # kept: a resumable, unverified prefix
    have = part.stat().st_size
    assert have > 0
    mirror7.clear_faults()
    mirror7.reset_log()
    rc, _, err = build(world7, mirror7, tmp_path, "--role", "app-node", capsys=capsys)
    assert rc == 0, err
    (req,) = mirror7.requests_for(victim)
    assert req.range == f"bytes={have}-" and req.status == 206
    assert not list((tmp_path / "cache" / "pkgs").rglob("*.part"))
