"""report.html: content, escaping and offline-ness (rendering itself: tests/integration)."""

from __future__ import annotations

import json
import logging
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bundler.assemble.report import write_report
from bundler.core.paths import MANIFESTS
from bundler.site.flows import write_flows_tsv
from bundler.site.model import load_site, write_site_files

TOP = "workcenter-el7-x86_64-20261126"
# build["signatures"] as gpg.SignatureReport.to_dict() writes it, for a build where every package verified
VERIFIED = {"checked": 4, "signed_ok": 4, "allow_unsigned": [], "unsigned_allowed": [],
            "keys": {"c7-os": ["f4a80eb5"], "mariadb": ["1bb943db"]}}


def pkg(name: str, roles: list[str], why: list[str], size: int, lic: str = "GPLv2", repo: str = "c7-os") -> dict:
    return {"name": name, "epoch": 0, "version": "1.0", "release": "1.el7", "arch": "x86_64", "repo": repo,
            "location": f"Packages/{name}-1.0-1.el7.x86_64.rpm", "url": "", "checksum": "sha256:" + "0" * 64,
            "size": size, "license": lic, "vendor": "CentOS", "sourcerpm": "", "modularity_label": None,
            "upgrade_of": None, "roles": roles, "why": why}


def make_tree(root: Path, with_site: bool = True, signed: bool = False, allow_unsigned: tuple[str, ...] = (),
              signatures: dict | None = None) -> Path:
    top = root / TOP
    (top / "site").mkdir(parents=True)
    write_flows_tsv(top / "site" / "flows.tsv")
    if with_site:
        write_site_files(load_site(MANIFESTS / "site.example.yaml"), top / "site", top)
    lock = {"lock_version": 1, "el": 7, "arch": "x86_64", "manifest": {"name": "workcenter", "sha256": "ab"},
            "baseline": {"kind": "minimal", "source": "@core", "count": 301}, "repos": {"c7-os": {}, "mariadb": {}},
            "roles": {"db-node": {"install": [], "upgrade": [], "requested": ["MariaDB-server", "galera-4"]},
                      "app-node": {"install": [], "upgrade": [], "requested": ["java-1.8.0-openjdk-headless"]}},
            "packages": [pkg("MariaDB-server", ["db-node"], ["MariaDB-server"], 25_000_000, "GPLv2", "mariadb"),
                         pkg("galera-4", ["db-node"], ["MariaDB-server", "galera-4"], 9_000_000, "GPLv2", "mariadb"),
                         pkg("java-1.8.0-openjdk-headless", ["app-node"], ["java-1.8.0-openjdk-headless"], 33_000_000,
                             "ASL 1.1 and GPLv2 with exceptions"),
                         pkg("<script>alert(1)</script>", ["app-node"],
                             ["java-1.8.0-openjdk-headless", "<script>alert(1)</script>"], 1234, "A & B")],
            "modules": {}}
    build = {"tool": "wcbundle", "tool_version": "0.1.0", "time": "2026-11-26T16:00:00Z",
             "builder_os": {"pretty_name": "Debian GNU/Linux 12 (bookworm)"}, "signed": signed,
             "signer_fpr": "0123456789ABCDEF0123456789ABCDEF01234567" if signed else "",
             "allow_unsigned": sorted(allow_unsigned),
             "signatures": signatures if signatures is not None else VERIFIED}
    (top / "bundle.json").write_text(json.dumps({"lock": lock, "build": build, "site": None}))
    sbom = {"spdxVersion": "SPDX-2.3", "documentNamespace": "https://wcbundle.invalid/spdx/x",
            "packages": [{"SPDXID": "SPDXRef-Bundle"},
                         {"packageFileName": "Packages/galera-4-1.0-1.el7.x86_64.rpm",
                          "licenseDeclared": "GPL-2.0-only"},
                         {"packageFileName": "Packages/java-1.8.0-openjdk-headless-1.0-1.el7.x86_64.rpm",
                          "licenseDeclared": "LicenseRef-java-1"}],
            "hasExtractedLicensingInfos": [{"licenseId": "LicenseRef-java-1",
                                            "extractedText": "ASL 1.1 and GPLv2 with exceptions"}]}
    (top / "sbom.spdx.json").write_text(json.dumps(sbom))
    return top


class Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(path: Path) -> Collect:
    c = Collect()
    c.feed(path.read_text(encoding="utf-8"))
    return c


@pytest.fixture(autouse=True)
def _propagate(monkeypatch):
    monkeypatch.setattr(logging.getLogger("wcbundle"), "propagate", True)


@pytest.fixture
def report(tmp_path) -> Path:
    top = make_tree(tmp_path)
    write_report(top, top / "report.html")
    return top / "report.html"


def test_report_shows_build_packages_site_and_commands(report):
    text = " ".join(parse(report).text)
    for needle in ("EL7 x86_64", "2026-11-26T16:00:00Z", "MariaDB-server → galera-4", "mariadb",
                   f"sha256sum -c {TOP}.tar.sha256", f"wcbundle verify {TOP}.tar",
                   f"tar -xf {TOP}.tar && cd {TOP}", "./install.sh --role db-node",
                   "./install.sh --role app-node,mq-node", "./install.sh --role arbitrator",
                   "Source host", "출발지 호스트", "25672", "35672-35682", "4444", "4568",
                   "This bundle is not signed", "acme_galera",
                   "minimal (@core), 301 packages assumed installed on the target"):
        assert needle in text, needle
    assert "GPL-2.0-only" in text  # the SBOM's license wins over the lock's tag for galera-4
    assert "ASL 1.1 and GPLv2 with exceptions (RPM tag)" in text and "LicenseRef-java-1" not in text
    assert "63.9 MiB" in text  # 67 001 234 bytes, the total of the four sizes


def test_report_is_offline_and_escaped(report):
    raw = report.read_text(encoding="utf-8")
    c = parse(report)
    assert not [t for t, _ in c.tags if t in ("script", "link", "iframe", "img", "object", "embed")]
    assert not [a for _, attrs in c.tags for a in attrs if a in ("src", "href") or a.startswith("on")]
    assert not re.search(r"https?://(?!www\.w3\.org/)", raw.replace("https://wcbundle.invalid/spdx/x", ""))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in raw and "A &amp; B" in raw
    assert "<svg" in raw and "wc-db1" in raw  # the diagram is inline


def test_signed_bundle_shows_fingerprint_and_no_site_note(tmp_path):
    top = make_tree(tmp_path, with_site=False, signed=True)
    write_report(top, tmp_path / "r.html")
    text = " ".join(parse(tmp_path / "r.html").text)
    assert "gpg --verify MANIFEST.sha256.asc MANIFEST.sha256" in text
    assert f"gpg --verify {TOP}.tar.sha256.asc {TOP}.tar.sha256" in text
    assert f"wcbundle verify --require-signature 0123456789ABCDEF0123456789ABCDEF01234567 {TOP}.tar" in text
    assert "0123456789ABCDEF0123456789ABCDEF01234567" in text
    assert "Built without --site" in text and "wc-db1" not in text


def test_edited_invalid_site_env_still_gives_a_report(tmp_path, caplog):
    top = make_tree(tmp_path)
    env = top / "site" / "site.env"
    env.write_text(env.read_text().replace("WCB_NODE_4_IP=10.10.0.22", "WCB_NODE_4_IP=10.10.0.21"))
    write_report(top, tmp_path / "r.html")
    text = " ".join(parse(tmp_path / "r.html").text)
    assert "site/site.env is not valid" in text and "WCB_NODE_4_IP" in text and "used twice" in text
    assert "Built without --site" not in text and "wc-arb" not in text
    assert any("no site plan" in r.getMessage() for r in caplog.records)


def alert_boxes(path: Path) -> list[str]:
    """The text of each <section class="alert">, in page order."""
    class Boxes(HTMLParser):
        def __init__(self):
            super().__init__()
            self.boxes: list[list[str]] = []
            self.depth = 0

        def handle_starttag(self, tag, attrs):
            if tag == "section":
                if self.depth or "alert" in (dict(attrs).get("class") or "").split():
                    self.depth += 1
                    if self.depth == 1:
                        self.boxes.append([])

        def handle_endtag(self, tag):
            if tag == "section" and self.depth:
                self.depth -= 1

        def handle_data(self, data):
            if self.depth:
                self.boxes[-1].append(data)

    b = Boxes()
    b.feed(path.read_text(encoding="utf-8"))
    return [" ".join(" ".join(parts).split()) for parts in b.boxes]


def test_allow_unsigned_is_named_in_a_warning_box_first(tmp_path):
    """issue 3 section 2: the --allow-unsigned escape hatch is named in the report, prominently."""
    sigs = {"checked": 4, "signed_ok": 2, "allow_unsigned": ["mariadb"],
            "unsigned_allowed": ["MariaDB-server-0:1.0-1.el7.x86_64", "galera-4-0:1.0-1.el7.x86_64"],
            "keys": {"c7-os": ["f4a80eb5"], "mariadb": []}}
    top = make_tree(tmp_path, allow_unsigned=("mariadb",), signatures=sigs)
    write_report(top, tmp_path / "r.html")
    boxes = alert_boxes(tmp_path / "r.html")
    assert len(boxes) == 1, boxes
    box = boxes[0]
    assert "--allow-unsigned mariadb" in box and "(mariadb)" in box
    assert "MariaDB-server-0:1.0-1.el7.x86_64" in box and "galera-4-0:1.0-1.el7.x86_64" in box
    assert "2 packages accepted without a verified signature" in box
    raw = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert raw.index('class="alert"') < raw.index("Build / 빌드 정보")  # before anything else on the page
    text = " ".join(" ".join(parse(tmp_path / "r.html").text).split())
    assert "2 of 4 packages have a signature verified" in text
    assert "f4a80eb5" in text and "--allow-unsigned: 2 accepted without a verified signature" in text


def test_allow_unsigned_from_build_alone_is_still_named(tmp_path):
    """An --allow-unsigned repo that needed no exception is still on record (and nothing else warns)."""
    top = make_tree(tmp_path, allow_unsigned=("c7-os",))
    write_report(top, tmp_path / "r.html")
    boxes = alert_boxes(tmp_path / "r.html")
    assert len(boxes) == 1 and "--allow-unsigned c7-os" in boxes[0], boxes
    assert "No package needed it" in boxes[0]


def test_verified_build_has_no_warning_box_and_lists_each_repos_keys(report):
    assert alert_boxes(report) == []
    text = " ".join(" ".join(parse(report).text).split())
    assert "--allow-unsigned" not in text
    assert "4 of 4 packages have a signature verified" in text
    assert "c7-os f4a80eb5 none pinned 2 all verified" in text and "mariadb 1bb943db none pinned 2 all verified" in text


def test_report_points_at_the_operators_runbook(report):
    """issue 13: report.html names the README's runbook and its four disasters with the installer's commands."""
    html = " ".join(parse(report).text)
    assert "Operator's runbook: when the site fails" in html
    assert "innodb_flush_log_at_trx_commit=1" in html          # the durability choice, stated
    for disaster in ("A network partition", "A frozen node", "A replaced disk", "A power cut"):
        assert disaster in html
    assert "./install.sh --yes --bootstrap" in html
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert "## Operator's runbook: when the site fails" in readme
