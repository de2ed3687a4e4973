"""sbom.spdx.json: an SPDX 2.3 JSON document of the RPMs a bundle carries.

The package list comes from the repo directory itself (every *.rpm under it),
read with `rpm -qp` (name, epoch, version, release, arch, vendor, license), and
hashed here (SHA256 of the bytes in the bundle). The lock adds what the RPM
header cannot say: the download URL and the repo id; a lock entry whose file
differs from the header or the hash is an IntegrityError.

RPM License tags are often old Fedora short names ("GPLv2+", "ASL 2.0"). They
are translated to SPDX only where the meaning is unambiguous and every id is in
KNOWN_IDS; anything else becomes a LicenseRef-... with the tag as extracted
text, so the document always validates (tests run spdx-tools' validator).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from ..core.errors import IntegrityError
from ..core.fileutil import atomic_write, sha256_file
from ..core.run import run

log = logging.getLogger("wcbundle")

# Old Fedora/EL short names whose SPDX meaning is not in doubt.
LEGACY = {
    "GPL+": "GPL-1.0-or-later", "GPLv2": "GPL-2.0-only", "GPLv2+": "GPL-2.0-or-later",
    "GPLv3": "GPL-3.0-only", "GPLv3+": "GPL-3.0-or-later", "LGPLv2+": "LGPL-2.0-or-later",
    "LGPLv2.1": "LGPL-2.1-only", "LGPLv2.1+": "LGPL-2.1-or-later",
    "LGPLv3": "LGPL-3.0-only", "LGPLv3+": "LGPL-3.0-or-later", "AGPLv3": "AGPL-3.0-only",
    "AGPLv3+": "AGPL-3.0-or-later", "ASL 1.1": "Apache-1.1", "ASL 2.0": "Apache-2.0",
    "MPLv1.1": "MPL-1.1", "MPLv2.0": "MPL-2.0", "zlib": "Zlib", "Boost": "BSL-1.0",
    "Artistic 2.0": "Artistic-2.0", "Python": "Python-2.0", "OpenLDAP": "OLDAP-2.8",
    "GPL-2.0": "GPL-2.0-only", "GPL-2.0+": "GPL-2.0-or-later", "GPL-3.0": "GPL-3.0-only",
    "GPL-3.0+": "GPL-3.0-or-later", "LGPL-2.1": "LGPL-2.1-only", "LGPL-2.1+": "LGPL-2.1-or-later",
}
KNOWN_IDS = frozenset(LEGACY.values()) | frozenset("""
    0BSD AFL-2.1 Apache-2.0 Artistic-1.0-Perl BSD-2-Clause BSD-3-Clause BSD-4-Clause BSL-1.0 CC0-1.0
    CC-BY-4.0 CC-BY-SA-4.0 CDDL-1.0 CDDL-1.1 EPL-1.0 EPL-2.0 GPL-1.0-only GPL-2.0-only GPL-3.0-only
    IJG ISC LGPL-2.0-only LGPL-2.1-only Libpng MIT MIT-0 MPL-1.0 MPL-2.0 NCSA OFL-1.1 OpenSSL PHP-3.01
    PostgreSQL PSF-2.0 Ruby Sleepycat Unicode-DFS-2016 Unlicense Vim W3C X11 Zlib curl libtiff
""".split())
KNOWN_EXCEPTIONS = frozenset({"Classpath-exception-2.0", "GCC-exception-3.1", "LLVM-exception",
                              "OpenJDK-assembly-exception-1.0", "Autoconf-exception-3.0",
                              "Bison-exception-2.2", "Font-exception-2.0"})
VENDOR_NS = (("centos", "centos"), ("red hat", "redhat"), ("rocky", "rocky"), ("alma", "almalinux"),
             ("fedora", "fedora"), ("mariadb", "mariadb"), ("rabbitmq", "rabbitmq"), ("oracle", "oracle"),
             ("erlang", "erlang"), ("epel", "epel"))
QF = "%{NAME}\\t%{EPOCHNUM}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\t%{VENDOR}\\t%{LICENSE}\\t%{SOURCERPM}\\n"


def spdx_license(tag: str) -> str | None:
    """An SPDX expression for an RPM License tag, or None when not certain."""
    parts = [p for p in re.split(r"(\(|\)|\s+(?:and|AND|or|OR)\s+)", tag.strip()) if p and p.strip()]
    out, expect_term, depth = [], True, 0
    for p in parts:
        word = p.strip()
        if word == "(" and expect_term:
            out.append("(")
            depth += 1
        elif word == ")" and not expect_term and depth:
            out.append(")")
            depth -= 1
        elif word.lower() in ("and", "or") and not expect_term:
            out.append(f" {word.upper()} ")
            expect_term = True
        elif expect_term and word not in "()":
            lic, _, exc = word.partition(" WITH ")
            lic = LEGACY.get(lic.strip(), lic.strip())
            if lic not in KNOWN_IDS or (exc and exc.strip() not in KNOWN_EXCEPTIONS):
                return None
            out.append(lic + (f" WITH {exc.strip()}" if exc else ""))
            expect_term = False
        else:
            return None
    if expect_term or depth:
        return None
    return "".join(out)


def purl(ns: str, name: str, epoch: int, version: str, release: str, arch: str) -> str:
    def q(s: str) -> str:
        return quote(s, safe=".-_~")
    return f"pkg:rpm/{q(ns)}/{q(name)}@{q(version)}-{q(release)}?arch={q(arch)}&epoch={epoch}"


def vendor_namespace(vendor: str, repo: str) -> str:
    low = vendor.lower()
    for needle, ns in VENDOR_NS:
        if needle in low:
            return ns
    slug = re.sub(r"[^a-z0-9]+", "-", low).strip("-")
    return slug or re.sub(r"[^a-z0-9]+", "-", repo.lower()).strip("-") or "unknown"


def read_headers(files: list[Path]) -> list[dict[str, Any]]:
    """Header facts of each RPM, in the order given (rpm -qp, in batches)."""
    out = []
    for i in range(0, len(files), 200):
        batch = files[i:i + 200]
        proc = run(["rpm", "-qp", "--nosignature", "--nodigest", "--qf", QF, *batch], timeout=300)
        lines = proc.stdout.splitlines()
        if len(lines) != len(batch):
            raise IntegrityError(f"rpm -qp returned {len(lines)} headers for {len(batch)} files in "
                                 f"{batch[0].parent}", hint="A file there is not a valid RPM; rebuild the bundle.")
        for line in lines:
            name, epoch, version, release, arch, vendor, lic, srpm = line.split("\t")
            out.append({"name": name, "epoch": int(epoch or 0), "version": version, "release": release,
                        "arch": arch, "vendor": "" if vendor == "(none)" else vendor,
                        "license": "" if lic == "(none)" else lic, "sourcerpm": srpm})
    return out


def download_location(url: str) -> str:
    """The URL, or NOASSERTION when SPDX's download-location grammar (a DNS name
    ending in a 2-5 letter TLD) cannot express it, e.g. a mirror on 127.0.0.1."""
    host = (urlsplit(url).hostname or "") if url else ""
    if urlsplit(url).scheme in ("http", "https", "ftp") and re.fullmatch(r"[a-z0-9.-]+\.[a-z]{2,5}", host):
        return url
    return "NOASSERTION"


def _lock_dict(lock: Any) -> dict:
    return lock.to_dict() if hasattr(lock, "to_dict") else dict(lock)


def _spdx_id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "-", text).strip("-")


def _created(build_info: dict) -> str:
    raw = str(build_info.get("time") or "")
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        when = datetime.now(timezone.utc)
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_sbom(lock: Any, repo_dir: Path, build_info: dict) -> dict:
    """The SPDX 2.3 document (a dict) for every RPM under repo_dir."""
    d = _lock_dict(lock)
    by_file = {p["location"].rsplit("/", 1)[-1]: p for p in d.get("packages", [])}
    files = sorted(Path(repo_dir).rglob("*.rpm"))
    headers = read_headers(files)
    created = _created(build_info)
    doc_name = f"{d.get('manifest', {}).get('name', 'bundle')}-el{d.get('el', '')}-{d.get('arch', '')}"
    packages, rels, extracted = [], [], {}
    top_id = "SPDXRef-Bundle"
    for path, h in zip(files, headers):
        sha = sha256_file(path)
        evr = f"{h['epoch']}:{h['version']}-{h['release']}"
        locked = by_file.pop(path.name, None)
        if locked is not None:
            lock_evr = f"{locked['epoch']}:{locked['version']}-{locked['release']}"
            if (locked["name"], lock_evr, locked["arch"]) != (h["name"], evr, h["arch"]) or \
                    locked.get("checksum", f"sha256:{sha}") != f"sha256:{sha}":
                raise IntegrityError(f"{path} is not the package the lock lists under that file name "
                                     f"({locked['name']}-{lock_evr}.{locked['arch']}, {locked.get('checksum')}).",
                                     hint="Rebuild the bundle from a fresh fetch.")
        else:
            log.warning("Warning: %s is in the repo but not in the lock; listed in the SBOM anyway.", path.name)
            locked = {}
        tag = h["license"] or locked.get("license", "")
        declared = spdx_license(tag) if tag else "NOASSERTION"
        if declared is None:
            ref = "LicenseRef-" + (_spdx_id(tag)[:48] or "x") + "-" + hashlib.sha256(tag.encode()).hexdigest()[:8]
            extracted[ref] = {"licenseId": ref, "name": tag[:200], "extractedText": tag,
                              "comment": "RPM License tag that has no certain SPDX equivalent."}
            declared = ref
        vendor = h["vendor"] or locked.get("vendor", "")
        spdx_id = "SPDXRef-RPM-" + _spdx_id(f"{h['name']}-{evr}.{h['arch']}")
        pkg = {
            "SPDXID": spdx_id, "name": h["name"], "versionInfo": evr,
            "packageFileName": path.relative_to(repo_dir).as_posix(),
            "supplier": f"Organization: {vendor}" if vendor else "NOASSERTION",
            "downloadLocation": download_location(locked.get("url", "")), "filesAnalyzed": False,
            "checksums": [{"algorithm": "SHA256", "checksumValue": sha}],
            "licenseConcluded": "NOASSERTION", "licenseDeclared": declared,
            "licenseComments": f"RPM License tag: {tag or '(none)'}", "copyrightText": "NOASSERTION",
            "sourceInfo": f"source RPM {h['sourcerpm']}",
            "comment": f"arch {h['arch']}; repo {locked.get('repo', 'unknown')}; url {locked.get('url', '-')}; "
                       f"roles {', '.join(locked.get('roles', [])) or 'none'}",
            "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                              "referenceLocator": purl(vendor_namespace(vendor, locked.get("repo", "")),
                                                       h["name"], h["epoch"], h["version"], h["release"],
                                                       h["arch"])}],
        }
        packages.append(pkg)
        rels.append({"spdxElementId": top_id, "relationshipType": "CONTAINS", "relatedSpdxElement": spdx_id})
    for fname in sorted(by_file):
        log.warning("Warning: the lock lists %s but the repo does not hold it.", fname)
    seed = json.dumps([created, doc_name, [p["checksums"][0]["checksumValue"] for p in packages]])
    top = {"SPDXID": top_id, "name": doc_name, "versionInfo": created, "downloadLocation": "NOASSERTION",
           "filesAnalyzed": False, "supplier": "NOASSERTION", "licenseConcluded": "NOASSERTION",
           "licenseDeclared": "NOASSERTION", "copyrightText": "NOASSERTION", "primaryPackagePurpose": "ARCHIVE",
           "comment": f"wcbundle offline bundle: {len(packages)} RPMs for EL{d.get('el')} {d.get('arch')}"}
    doc = {
        "spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT", "name": doc_name,
        "documentNamespace": f"https://wcbundle.invalid/spdx/{doc_name}-{uuid.uuid5(uuid.NAMESPACE_URL, seed)}",
        "creationInfo": {"created": created,
                         "creators": [f"Tool: wcbundle-{build_info.get('tool_version', 'unknown')}"]},
        "packages": [top] + packages,
        "relationships": [{"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES",
                           "relatedSpdxElement": top_id}] + rels,
    }
    if extracted:
        doc["hasExtractedLicensingInfos"] = [extracted[k] for k in sorted(extracted)]
    return doc


def write_sbom(lock: Any, repo_dir: Path, dest: Path, build_info: dict) -> None:
    """Write the SPDX 2.3 JSON SBOM of repo_dir's RPMs to dest (atomically)."""
    atomic_write(Path(dest), json.dumps(build_sbom(lock, Path(repo_dir), build_info), indent=2) + "\n")
