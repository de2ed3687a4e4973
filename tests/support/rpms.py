"""Real RPMs and keys for tests that need a few packages without the fixture world:
rpmbuild-built noarch/arch RPMs, optionally signed with rpmsign, and GnuPG keys."""

from __future__ import annotations

import subprocess
from pathlib import Path

__all__ = ["build_rpm", "make_rpm_key", "make_signing_key", "stop_agent"]


def _cmd(argv: list, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], check=True, capture_output=True, text=True,  # noqa: S603
                          timeout=120, **kw)


def make_rpm_key(home: Path, name: str) -> Path:
    """A fresh unprotected RSA key (rpmsign's kind) in GNUPGHOME=home, uid <name@test.invalid>;
    returns its armored public key file home/RPM-GPG-KEY-<name>."""
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    params = home / f"{name}.params"
    params.write_text(f"%no-protection\nKey-Type: RSA\nKey-Length: 2048\nName-Real: {name}\n"
                      f"Name-Email: {name}@test.invalid\nExpire-Date: 0\n%commit\n")
    _cmd(["gpg", "--homedir", home, "--batch", "--gen-key", params])
    out = home / f"RPM-GPG-KEY-{name}"
    out.write_text(_cmd(["gpg", "--homedir", home, "--armor", "--export", f"{name}@test.invalid"]).stdout)
    return out


def make_signing_key(home: Path, uid: str) -> str:
    """A fresh ed25519 signing key without passphrase in GNUPGHOME=home (bundle signing);
    returns its fingerprint."""
    from bundler.carry.sign import fingerprint_of
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    env = {"GNUPGHOME": str(home), "PATH": "/usr/bin:/bin"}
    _cmd(["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "", "--quick-gen-key",
          uid, "ed25519", "sign", "never"], env=env)
    return fingerprint_of(uid, home)


def stop_agent(home: Path) -> None:
    """Stop the gpg-agent that gpg/rpmsign started for this GNUPGHOME (it outlives the test otherwise)."""
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], check=False,  # noqa: S603,S607
                   capture_output=True, timeout=30)


def build_rpm(top: Path, name: str, version: str = "1.0", release: str = "1", *, epoch: int = 0,
              arch: str = "noarch", license: str = "MIT", vendor: str = "", signer: str | None = None,
              home: Path | None = None, requires: str = "", extra: str = "", payload: bool = True) -> Path:
    """An RPM built with rpmbuild under `top` (one tiny file unless payload=False); signed by
    `signer` (a make_rpm_key name, its GNUPGHOME `home`) when given."""
    spec = top / "SPECS" / f"{name}.spec"
    spec.parent.mkdir(parents=True, exist_ok=True)
    files = (f"%install\nmkdir -p %{{buildroot}}/usr/share/{name}\n"
             f"echo {name} > %{{buildroot}}/usr/share/{name}/README\n"
             f"%files\n/usr/share/{name}/README\n") if payload else "%files\n"
    spec.write_text(f"Name: {name}\n" + (f"Epoch: {epoch}\n" if epoch else "")
                    + f"Version: {version}\nRelease: {release}\nSummary: {name}\nLicense: {license}\n"
                    + (f"Vendor: {vendor}\n" if vendor else "")
                    + f"BuildArch: {arch}\n{('Requires: ' + requires) if requires else ''}\n{extra}\n"
                    f"%description\n{name}\n" + files)
    _cmd(["rpmbuild", "--define", f"_topdir {top}", "--define", "_build_id_links none", "-bb", spec])
    rpm = next((top / "RPMS" / arch).glob(f"{name}-{version}-{release}.{arch}.rpm"))
    if signer:
        _cmd(["rpmsign", "--define", f"_gpg_name {signer}@test.invalid", "--define", "__gpg /usr/bin/gpg",
              "--define", f"_gpg_path {home}", "--addsign", rpm])
    return rpm
