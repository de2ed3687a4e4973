"""The target path: install.sh's verify phase (`./install.sh --check`) on a real, signed bundle.

Acceptance (issue 7): a signed bundle verifies on the target path (gpgv, pinned
fingerprint); the same bundle with MANIFEST.sha256 edited is refused. Then the
hostile tree cases: each addition or change to the extracted tree is refused by
install.sh (exit 2) and by `wcbundle verify DIR` (exit 6), with nothing written
outside the bundle and nothing installed (WCB_ROOT stays empty).

Tar-level tricks (`..` members, absolute names, tar-in-tar, appended bytes) never
reach install.sh as such: they are refused by `wcbundle verify`/`extract_bundle`
before extraction (tests/unit/test_verify.py); here the tree-level forms are tested.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from test_carry import build_signed

from bundler.carry import verify
from bundler.core.errors import SignatureError
from tests.support.rpms import make_signing_key as make_key
from tests.support.rpms import stop_agent

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def signed(tmp_path_factory, world_el7):
    """A signed mq-node bundle built from the world, extracted through extract_bundle."""
    base = tmp_path_factory.mktemp("hostile")
    built = build_signed(base, world_el7.repo_args, "mq-node")
    other_home = base / "gnupg-other"
    other = make_key(other_home, "mallory <mallory@example.invalid>")
    top = verify.extract_bundle(built["tar"], base / "extracted", require_fpr=built["fpr"])
    yield {"top": top, "fpr": built["fpr"], "other": other, "home": built["home"], "other_home": other_home}
    stop_agent(built["home"])
    stop_agent(other_home)


def fresh(signed, tmp_path: Path) -> Path:
    dest = tmp_path / "target" / signed["top"].name
    shutil.copytree(signed["top"], dest, symlinks=True)
    return dest


def tree(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*")}


def check(bundle: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the target's verify phase as an operator would; nothing may land outside the bundle."""
    root = bundle.parent.parent / "root"
    root.mkdir(exist_ok=True)
    before = tree(bundle.parent.parent)
    res = subprocess.run(["bash", "./install.sh", "--check", *args], cwd=bundle, capture_output=True, text=True,
                         timeout=120, env={"PATH": os.environ["PATH"], "WCB_ROOT": str(root), "LC_ALL": "C",
                                           "HOME": str(bundle.parent.parent)})
    assert "Traceback" not in res.stderr
    assert tree(root) == set(), f"install.sh --check wrote under WCB_ROOT: {tree(root)}"
    assert tree(bundle.parent.parent) == before, tree(bundle.parent.parent) ^ before
    return res


def refused(bundle: Path, needle: str, *args: str) -> str:
    res = check(bundle, *args)
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert needle in res.stderr, res.stderr
    return res.stderr


def test_signed_bundle_verifies_on_target(signed, tmp_path):
    b = fresh(signed, tmp_path)
    res = check(b, "--require-signature", signed["fpr"])
    assert res.returncode == 0, res.stderr
    assert signed["fpr"] in res.stdout + res.stderr


def test_manifest_edited_is_refused(signed, tmp_path):
    """A consistent edit (file + its MANIFEST line): only the signature can tell, and it does."""
    b = fresh(signed, tmp_path)
    env = b / "bundle.env"
    env.write_text(env.read_text() + "WCB_EVIL=1\n")
    man = b / "MANIFEST.sha256"
    lines = [f"{hashlib.sha256(env.read_bytes()).hexdigest()}  bundle.env" if line.endswith("  bundle.env")
             else line for line in man.read_text().splitlines()]
    man.write_text("\n".join(lines) + "\n")
    refused(b, "BAD signature")
    refused(b, "BAD signature", "--require-signature", signed["fpr"])
    with pytest.raises(SignatureError, match="BAD"):   # the builder-side check of the same tree
        verify.verify_bundle(b, require_fpr=signed["fpr"])


def test_manifest_line_added_is_refused(signed, tmp_path):
    b = fresh(signed, tmp_path)
    (b / "lib" / "extra.sh").write_text("id\n")
    man = b / "MANIFEST.sha256"
    digest = hashlib.sha256(b"id\n").hexdigest()
    man.write_text(man.read_text() + f"{digest}  lib/extra.sh\n")
    refused(b, "BAD signature", "--require-signature", signed["fpr"])


def test_other_signer_and_unsigned_refused(signed, tmp_path):
    b = fresh(signed, tmp_path)
    refused(b, "not by the required", "--require-signature", signed["other"])
    (b / "MANIFEST.sha256.asc").unlink()
    refused(b, "MANIFEST.sha256.asc", "--require-signature", signed["fpr"])


def test_resigned_by_attacker_refused_when_pinned(signed, tmp_path):
    """The attacker re-signs the edited manifest with their own key and ships that key."""
    from bundler.carry import sign
    b = fresh(signed, tmp_path)
    env = b / "bundle.env"
    env.write_text(env.read_text() + "WCB_EVIL=1\n")
    man = b / "MANIFEST.sha256"
    key = b / sign.SIGNER_KEY
    sign.export_public_key(signed["other"], key, signed["other_home"])
    digests = {"bundle.env": hashlib.sha256(env.read_bytes()).hexdigest(),
               sign.SIGNER_KEY: hashlib.sha256(key.read_bytes()).hexdigest()}
    out = []
    for line in man.read_text().splitlines():
        path = line.split("  ", 1)[1]
        out.append(f"{digests[path]}  {path}" if path in digests else line)
    man.write_text("\n".join(out) + "\n")
    (b / "MANIFEST.sha256.asc").unlink()
    sign.sign_file(man, signed["other"], signed["other_home"])
    refused(b, "not by the required", "--require-signature", signed["fpr"])


def test_lib_file_replaced_is_refused_before_it_runs(signed, tmp_path):
    b = fresh(signed, tmp_path)
    marker = tmp_path / "ran"
    common = b / "lib" / "common.sh"
    common.write_text(common.read_text() + f"\ntouch '{marker}'\n")
    res = check(b)
    assert res.returncode == 2 and not marker.exists(), (res.returncode, marker.exists())


def _outside(tmp_path: Path) -> Path:
    f = tmp_path / "outside-secret"
    f.write_text("secret\n")
    return f


def mutations(tmp_path: Path):
    def symlink_out(b):
        (b / "lib" / "passwd").symlink_to("/etc/passwd")

    def listed_file_to_symlink(b):
        target = next((b / "roles").glob("*.sh"))
        target.unlink()
        target.symlink_to(_outside(tmp_path))

    def dir_to_symlink(b):
        other = tmp_path / "other-templates"
        shutil.copytree(b / "templates", other)
        shutil.rmtree(b / "templates")
        (b / "templates").symlink_to(other)

    def hardlink_out(b):
        os.link(_outside(tmp_path), b / "lib" / "hard")

    def fifo(b):
        os.mkfifo(b / "lib" / "pipe")

    def chardev(b):
        os.mknod(b / "lib" / "null", stat.S_IFCHR | 0o600, os.makedev(1, 3))

    def unlisted(b):
        (b / "roles" / "backdoor.sh").write_text("#!/usr/bin/env bash\nid\n")

    def modified(b):
        rpm = next((b / "repo" / "Packages").glob("*.rpm"))
        raw = bytearray(rpm.read_bytes())
        raw[len(raw) // 2] ^= 1
        rpm.write_bytes(bytes(raw))

    def removed(b):
        next((b / "repo" / "Packages").glob("*.rpm")).unlink()

    return {
        "symlink-out": (symlink_out, "symlinks, devices or FIFOs", "symlink"),
        "listed-file-replaced-by-symlink": (listed_file_to_symlink, "symlinks, devices or FIFOs", "symlink"),
        "dir-replaced-by-symlink": (dir_to_symlink, "symlinks, devices or FIFOs", "symlink"),
        "hardlink-out": (hardlink_out, "not listed", "unlisted"),
        "fifo": (fifo, "symlinks, devices or FIFOs", "not a regular file"),
        "char-device": (chardev, "symlinks, devices or FIFOs", "not a regular file"),
        "unlisted-file": (unlisted, "not listed", "unlisted"),
        "modified-rpm": (modified, "checksum mismatch", "modified"),
        "removed-rpm": (removed, "checksum mismatch", "missing"),
    }


@pytest.mark.parametrize("case", sorted(mutations(Path("/nonexistent"))))
def test_hostile_tree_refused_by_installer_and_verify(signed, tmp_path, case):
    mutate, installer_needle, verify_needle = mutations(tmp_path)[case]
    b = fresh(signed, tmp_path)
    mutate(b)
    refused(b, installer_needle)
    refused(b, installer_needle, "--require-signature", signed["fpr"])
    res = subprocess.run(["wcbundle", "verify", str(b)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 6, res.stderr
    assert verify_needle in res.stderr and "Traceback" not in res.stderr, res.stderr
    if (tmp_path / "outside-secret").exists():
        assert (tmp_path / "outside-secret").read_text() == "secret\n"


# -- issue 10: a real signed bundle built with --site, and the site edits a target may make ----------

@pytest.fixture(scope="module")
def signed_site(tmp_path_factory, world_el7):
    """A signed db-node bundle built with --site (site.env + its signed copy + the generated validator)."""
    from test_carry import wcb

    from bundler.core.paths import MANIFESTS
    base = tmp_path_factory.mktemp("signed-site")
    home = base / "gnupg"
    fpr = make_key(home, "wcbundle builder <builder@example.invalid>")
    site = base / "site.yaml"
    shutil.copy(MANIFESTS / "site.example.yaml", site)
    res = wcb("build", "--el", "7", "--role", "db-node", "--site", str(site), "--out", str(base / "out"),
              "--cache", str(base / "cache"), "--sign-key", fpr, *world_el7.repo_args, env={"GNUPGHOME": str(home)})
    assert res.returncode == 0, res.stderr
    tar = next((base / "out").glob("*.tar"))
    top = verify.extract_bundle(tar, base / "extracted", require_fpr=fpr)
    yield {"top": top, "fpr": fpr}
    stop_agent(home)


def test_signed_site_edits_need_accept_and_pass_the_schema(signed_site, tmp_path):
    """Acceptance (issue 10): an unedited signed bundle passes --require-signature; an edited site.env is
    refused (exit 2) without --accept-site-edits; a schema-valid edit with it passes and names the changed
    keys; an edit setting an installer variable is refused either way. Nothing outside the bundle is
    written (check() compares the trees)."""
    b = fresh(signed_site, tmp_path)
    assert (b / "site" / "site.env.signed").read_bytes() == (b / "site" / "site.env").read_bytes()
    assert (b / "lib" / "site_schema.sh").is_file()
    fpr = signed_site["fpr"]
    assert check(b, "--require-signature", fpr).returncode == 0
    env = b / "site" / "site.env"
    original = env.read_text()
    env.write_text(original.replace("WCB_MQ_VHOST=/\n", "WCB_MQ_VHOST=/wc\n"))
    res = check(b, "--require-signature", fpr)
    assert res.returncode == 2, res.stderr
    assert "keys that differ from the signed copy: WCB_MQ_VHOST" in res.stdout
    assert "--accept-site-edits" in res.stderr
    res = check(b, "--require-signature", fpr, "--accept-site-edits")
    assert res.returncode == 0, res.stderr
    assert "keys that differ from the signed copy: WCB_MQ_VHOST" in res.stdout
    env.write_text(original.replace("WCB_MQ_VHOST=/\n", "WCB_MQ_VHOST=workcenter\n"))
    res = check(b, "--require-signature", fpr, "--accept-site-edits")
    assert res.returncode == 3 and "WCB_MQ_VHOST: 'workcenter': it must be" in res.stderr, res.stderr
    env.write_text(original + "WCB_LOG_FILE=/etc/shadow\n")
    for extra in ((), ("--accept-site-edits",)):
        refused(b, "WCB_LOG_FILE is an installer variable", "--require-signature", fpr, *extra)
    refused(b, "WCB_LOG_FILE is an installer variable")   # signed: exit 2 even without --require-signature
