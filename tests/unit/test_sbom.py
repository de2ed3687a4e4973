"""sbom.spdx.json: SPDX 2.3 of exactly the RPMs in a repo dir, validated by spdx-tools."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from bundler.assemble.sbom import download_location, purl, spdx_license, write_sbom
from bundler.core.errors import IntegrityError
from tests.support.rpms import build_rpm

pytestmark = pytest.mark.skipif(not shutil.which("rpmbuild"), reason="rpmbuild not installed")

SPECS = {  # name: (epoch, version, release, arch, license, vendor)
    "wcb-alpha": (2, "1.0", "1.el7", "x86_64", "GPLv2+ and (MIT or BSD)", "MariaDB Foundation"),
    "wcb-beta": (0, "3.9.16", "1.el7", "noarch", "MPLv2.0", "RabbitMQ"),
    "libwcb++": (0, "0.5", "2.el7", "noarch", "ASL 2.0", "CentOS"),
}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    top = tmp_path_factory.mktemp("rpmbuild")
    repo = tmp_path_factory.mktemp("bundle") / "repo"
    (repo / "Packages").mkdir(parents=True)
    packages = []
    for name, (epoch, ver, rel, arch, lic, vendor) in SPECS.items():
        rpm = build_rpm(top, name, ver, rel, epoch=epoch, arch=arch, license=lic, vendor=vendor, payload=False)
        shutil.copy(rpm, repo / "Packages" / rpm.name)
        packages.append({"name": name, "epoch": epoch, "version": ver, "release": rel, "arch": arch,
                         "repo": "fixture", "location": f"rpms/{rpm.name}",
                         "url": f"http://127.0.0.1:8000/rpms/{rpm.name}",
                         "checksum": "sha256:" + hashlib.sha256(rpm.read_bytes()).hexdigest(),
                         "size": rpm.stat().st_size, "license": lic, "vendor": vendor, "roles": ["db-node"]})
    lock = {"lock_version": 1, "el": 7, "arch": "x86_64", "manifest": {"name": "workcenter"},
            "packages": packages, "roles": {}, "repos": {}, "baseline": {}, "modules": {}}
    return repo, lock


def validate(path: Path) -> list:
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document
    return validate_full_spdx_document(parse_file(str(path)), "SPDX-2.3")


def test_sbom_validates_and_lists_exactly_the_repo_rpms(world, tmp_path):
    repo, lock = world
    dest = tmp_path / "sbom.spdx.json"
    write_sbom(lock, repo, dest, {"time": "2026-11-26T16:00:00Z", "tool_version": "0.1.0"})
    assert validate(dest) == []
    doc = json.loads(dest.read_text())
    rpms = [p for p in doc["packages"] if p["SPDXID"] != "SPDXRef-Bundle"]
    files = {f"Packages/{f.name}": hashlib.sha256(f.read_bytes()).hexdigest()
             for f in (repo / "Packages").iterdir()}
    assert {p["packageFileName"]: p["checksums"][0]["checksumValue"] for p in rpms} == files
    alpha = next(p for p in rpms if p["name"] == "wcb-alpha")
    assert alpha["versionInfo"] == "2:1.0-1.el7"
    assert alpha["supplier"] == "Organization: MariaDB Foundation"
    # "BSD" is ambiguous in old Fedora tags: the whole tag becomes a LicenseRef with its text
    assert alpha["licenseDeclared"].startswith("LicenseRef-")
    refs = {r["licenseId"]: r["extractedText"] for r in doc["hasExtractedLicensingInfos"]}
    assert refs[alpha["licenseDeclared"]] == "GPLv2+ and (MIT or BSD)"
    assert alpha["externalRefs"][0]["referenceLocator"] == "pkg:rpm/mariadb/wcb-alpha@1.0-1.el7?arch=x86_64&epoch=2"
    lib = next(p for p in rpms if p["name"] == "libwcb++")
    assert lib["licenseDeclared"] == "Apache-2.0"
    assert lib["externalRefs"][0]["referenceLocator"] == "pkg:rpm/centos/libwcb%2B%2B@0.5-2.el7?arch=noarch&epoch=0"
    # spdx-tools' download-location grammar has no IP hosts: the URL moves to the comment
    assert lib["downloadLocation"] == "NOASSERTION" and "http://127.0.0.1:8000/rpms/libwcb" in lib["comment"]
    contained = {r["relatedSpdxElement"] for r in doc["relationships"] if r["relationshipType"] == "CONTAINS"}
    assert contained == {p["SPDXID"] for p in rpms}


def test_the_list_comes_from_the_repo_not_the_lock(world, tmp_path):
    repo, lock = world
    partial = tmp_path / "repo"
    shutil.copytree(repo, partial)
    next((partial / "Packages").glob("wcb-beta-*")).unlink()
    from bundler.lock import Lock
    write_sbom(Lock.from_dict(lock), partial, tmp_path / "s.json", {})
    names = {p["name"] for p in json.loads((tmp_path / "s.json").read_text())["packages"]}
    assert names == {"wcb-alpha", "libwcb++", "workcenter-el7-x86_64"}
    assert validate(tmp_path / "s.json") == []


def test_a_swapped_file_is_an_integrity_error(world, tmp_path):
    repo, lock = world
    bad = tmp_path / "repo"
    shutil.copytree(repo, bad)
    alpha = next((bad / "Packages").glob("wcb-alpha-*"))
    beta = next((bad / "Packages").glob("wcb-beta-*"))
    shutil.copy(beta, alpha)
    with pytest.raises(IntegrityError, match="not the package the lock lists"):
        write_sbom(lock, bad, tmp_path / "s.json", {})


@pytest.mark.parametrize("tag,expected", [
    ("GPLv2", "GPL-2.0-only"), ("GPLv2+ and LGPLv2+", "GPL-2.0-or-later AND LGPL-2.0-or-later"),
    ("(MIT or ASL 2.0) and zlib", "(MIT OR Apache-2.0) AND Zlib"),
    ("GPL-2.0-only WITH Classpath-exception-2.0", "GPL-2.0-only WITH Classpath-exception-2.0"),
    ("BSD", None), ("GPLv2 with exceptions", None), ("Public Domain", None), ("MIT and", None),
    ("(MIT", None), ("MIT or or GPLv2", None),
])
def test_license_translation_is_certain_or_refused(tag, expected):
    assert spdx_license(tag) == expected


def test_every_translation_validates_with_spdx_tools():
    from license_expression import get_spdx_licensing
    licensing = get_spdx_licensing()
    for tag in ("GPLv2+ and LGPLv2+", "(MIT or ASL 2.0) and zlib", "Boost and OpenLDAP and Python"):
        info = licensing.validate(spdx_license(tag))
        assert not info.errors and not info.invalid_symbols, (tag, info.errors)


def test_download_location():
    assert download_location("https://rpm.mariadb.org/10.11/rhel/7/x86_64/rpms/a.rpm").startswith("https://")
    assert download_location("http://127.0.0.1:8000/a.rpm") == "NOASSERTION"
    assert download_location("") == "NOASSERTION"


def test_purl_escapes():
    assert purl("centos", "gcc-c++", 0, "4.8.5", "44.el7", "x86_64") == \
        "pkg:rpm/centos/gcc-c%2B%2B@4.8.5-44.el7?arch=x86_64&epoch=0"
