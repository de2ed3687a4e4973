"""Turn `Pkg` records into real RPM files with rpmbuild, many packages per spec.

One rpmbuild process per spec; each spec holds up to CHUNK packages as
`%package -n` subpackages, each with its own Epoch/Version/Release/BuildArch
(rpm >= 4.14 allows that per subpackage). AutoReqProv is off: every
dependency is written out explicitly, copied from the record. No scriptlets.
Payloads are tiny: a file says which path it is, so two packages that share a
path ship identical bytes and never conflict.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bundler.core.run import run

from .pkg import Pkg

CHUNK = 200
# Each RPM also carries incompressible padding of size/PAD_DIVISOR (capped), so
# that fetch benchmarks move bytes in realistic proportions without a big world.
PAD_DIVISOR = 16
PAD_MAX = 4 << 20
PAD_DIR = "/usr/share/wcbundle-world/pad"
SPEC_TAGS = (("provides", "Provides"), ("conflicts", "Conflicts"), ("obsoletes", "Obsoletes"),
             ("recommends", "Recommends"), ("suggests", "Suggests"), ("supplements", "Supplements"),
             ("enhances", "Enhances"))
BIN_DIRS = ("/bin/", "/sbin/", "/usr/bin/", "/usr/sbin/", "/usr/libexec/")


def _esc(text: str) -> str:
    return text.replace("%", "%%")


def _spec_ok(path: str) -> bool:
    """Paths rpm's %files would glob or split on are left out (none are required in practice)."""
    return not any(c in path for c in '*?[]{}"\\ \t\n%')


def payload_content(path: str) -> bytes:
    return f"wcbundle fixture world: {path}\n".encode()


def _pkg_section(pkg: Pkg) -> list[str]:
    lines = [f"%package -n {pkg.name}", f"Summary: {_esc(pkg.summary or pkg.name)}",
             f"Version: {pkg.version}", f"Release: {pkg.release}",
             f"License: {_esc(pkg.license or 'Unknown')}"]
    if pkg.epoch:
        lines.append(f"Epoch: {pkg.epoch}")
    if pkg.arch == "noarch":
        lines.append("BuildArch: noarch")
    if pkg.vendor:
        lines.append(f"Vendor: {_esc(pkg.vendor)}")
    if pkg.modularity_label:
        lines.append(f"ModularityLabel: {pkg.modularity_label}")
    for dep in pkg.requires:
        lines.append(f"Requires{'(pre)' if dep.pre else ''}: {_esc(str(dep))}")
    for attr, tag in SPEC_TAGS:
        for dep in getattr(pkg, attr):
            lines.append(f"{tag}: {_esc(str(dep))}")
    origin = "MODELLED (not copied from a real package)" if pkg.modelled else \
        "a shadow of the real package: same NEVRA and dependencies, tiny payload"
    lines += [f"%description -n {pkg.name}", f"wcbundle fixture world: {origin}.", ""]
    return lines


def _files_section(pkg: Pkg) -> list[str]:
    lines = [f"%files -n {pkg.name}", "%defattr(-,root,root,-)"]
    for path, kind in sorted(pkg.files.items()):
        lines.append(f"%dir {path}" if kind == "dir" else path)
    return lines + [""]


def write_spec(spec: Path, label: str, pkgs: list[Pkg], payload: Path) -> None:
    lines = [f"Name: wcbundle-world-{label}", "Version: 1", "Release: 1",
             "Summary: wcbundle fixture world (container spec, builds no package of its own)",
             "License: Apache-2.0", "AutoReqProv: no", "", "%description",
             "Container spec of the wcbundle fixture world.", ""]
    for pkg in pkgs:
        lines += _pkg_section(pkg)
    lines += ["%install", f"cp -a {payload}/. %{{buildroot}}/", ""]
    for pkg in pkgs:
        lines += _files_section(pkg)
    spec.write_text("\n".join(lines) + "\n")


def make_payload(pkgs: list[Pkg], payload: Path) -> None:
    """The union buildroot of a spec: every file each package must carry, plus its padding."""
    payload.mkdir(parents=True, exist_ok=True)
    for pkg in pkgs:
        pkg.files = {p: k for p, k in pkg.files.items() if _spec_ok(p)}
        for path, kind in pkg.files.items():
            dest = payload / path.lstrip("/")
            if kind == "dir":
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(payload_content(path))
            dest.chmod(0o755 if path.startswith(BIN_DIRS) else 0o644)
        pad = min(pkg.size // PAD_DIVISOR, PAD_MAX)
        if pad:
            path = f"{PAD_DIR}/{pkg.name}"
            dest = payload / path.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(hashlib.shake_256(pkg.nevra.encode()).digest(pad))
            pkg.files[path] = "file"


def chunks(pkgs: list[Pkg]) -> list[list[Pkg]]:
    """Groups with unique names (a spec cannot hold two subpackages of one name), <= CHUNK each."""
    layers: list[list[Pkg]] = []
    for pkg in sorted(pkgs, key=lambda p: (p.name, p.evr)):
        for layer in layers:
            if len(layer) < CHUNK and all(p.name != pkg.name for p in layer):
                layer.append(pkg)
                break
        else:
            layers.append([pkg])
    return layers


def _rpmbuild(spec: Path, topdir: Path) -> None:
    run(["rpmbuild", "-bb", "--target", "x86_64", "--quiet",
         "--define", f"_topdir {topdir}",
         "--define", "_binary_payload w6.gzdio",   # gzip: EL7 rpm/yum cannot read zstd payloads
         "--define", "_binary_filedigest_algorithm 8",
         "--define", "debug_package %{nil}",
         "--define", "_build_id_links none",
         "--define", "__os_install_post %{nil}",
         "--define", "_buildhost wcbundle-world",
         "--define", "_rpmdir %{_topdir}/RPMS",
         "--define", "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm",
         str(spec)], timeout=900)


def build_rpms(pkgs: list[Pkg], work: Path, dest: Path, label: str) -> list[Path]:
    """Build every package into `dest` (flat); returns the RPM paths."""
    dest.mkdir(parents=True, exist_ok=True)
    jobs = []
    for i, group in enumerate(chunks(pkgs)):
        sub = work / f"{label}-{i}"
        payload = sub / "payload"
        make_payload(group, payload)
        spec = sub / "world.spec"
        write_spec(spec, f"{label}-{i}", group, payload)
        jobs.append((spec, sub / "top"))
    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
        list(pool.map(lambda job: _rpmbuild(*job), jobs))
    out = []
    for _spec, top in jobs:
        for rpm in sorted((top / "RPMS").glob("*.rpm")):
            target = dest / rpm.name
            os.replace(rpm, target)
            out.append(target)
    if len(out) != len(pkgs):
        raise RuntimeError(f"{label}: rpmbuild wrote {len(out)} RPMs for {len(pkgs)} packages")
    return out
