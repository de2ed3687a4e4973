"""Issue 16, report points 21-25: the content and structure of report.html (its layout in a real
browser, screen and print, is checked in tests/integration/test_report_chromium.py)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from test_report import make_tree, pkg

from bundler.assemble.report import install_order, render_report
from bundler.carry.verify import summarize
from bundler.changes import role_changes
from bundler.core.paths import MANIFESTS
from bundler.site.model import load_site

SVG = "{http://www.w3.org/2000/svg}"


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def section(html: str, heading_start: str) -> str:
    """The HTML of the <section> whose <h2> starts with heading_start."""
    for part in html.split("<section")[1:]:
        body = part.split("</section>", 1)[0]
        h2 = re.search(r"<h2>(.*?)</h2>", body)
        if h2 and h2.group(1).startswith(heading_start):
            return body
    raise AssertionError(f"no section {heading_start!r}")


# ---------------------------------------------------------------- 21: install order

def test_21_install_order_and_hosts_in_that_order(tmp_path):
    html = render_report(make_tree(tmp_path))
    sec = section(html, "Install on the targets, in this order")
    steps = re.findall(r"<li><b>([a-z-]+)</b>: ([^<]*)</li>", sec)
    assert [r for r, _ in steps] == ["db-node", "app-node"]  # the roles of this lock, in install order
    assert "the first bootstraps the Galera cluster" in steps[0][1] and "last" in steps[1][1]
    table = sec.split("The hosts of this site, in install order", 1)[1].split("</table>", 1)[0]
    rows = [text_of(r).split() for r in table.split("<tr>")[2:]]
    assert [r[1] for r in rows] == ["wc-db1", "wc-db2", "wc-arb", "wc-app1", "wc-app2"]
    assert [r[0] for r in rows] == ["1", "2", "3", "4", "5"]
    first, second = text_of(table.split("<tr>")[2]), text_of(table.split("<tr>")[3])
    assert "bootstraps the Galera cluster" in first and "joins the Galera cluster" in second


def test_21_install_order_puts_each_host_at_its_earliest_role():
    site = load_site(MANIFESTS / "site.example.yaml")
    order = [n.name for n in install_order(site)]
    first_role = {n.name: min(("db-node", "arbitrator", "mq-node", "app-node").index(r) for r in n.roles)
                  for n in site.nodes}
    assert [first_role[n] for n in order] == sorted(first_role[n] for n in order)
    assert order[0] == next(n.name for n in site.nodes if "db-node" in n.roles)


# ---------------------------------------------------------------- 22: the secrets

def test_22_a_bundle_with_secrets_says_so_first(tmp_path):
    top = make_tree(tmp_path)
    assert (top / "site" / "secrets.env").is_file()
    html = render_report(top)
    sec = section(html, "⚠ This bundle carries the site's secrets")
    words = text_of(sec)
    for needle in ("site/secrets.env", "passwords", "Erlang cookie", "mode 0600", "delete the copies",
                   f"{top.name}.tar"):
        assert needle in words, needle
    # before every other section but the --allow-unsigned box
    assert html.index("This bundle carries the site's secrets") < html.index("Build / 빌드 정보")


def test_22_no_secrets_no_warning(tmp_path):
    html = render_report(make_tree(tmp_path, with_site=False))
    assert "carries the site's secrets" not in html


# ---------------------------------------------------------------- 23: the sheet, for reading and printing

def test_23_sheet_headings_stack_english_over_korean_and_cells_are_the_csv_cells(tmp_path):
    from bundler.site.flows import FLOWS
    from bundler.site.plan import SHEET_HEADINGS, sheet_rows
    html = render_report(make_tree(tmp_path))
    table = html.split('<table class="sheet">', 1)[1].split("</table>", 1)[0]
    heads = re.findall(r"<th>(.*?)</th>", table)
    assert len(heads) == len(SHEET_HEADINGS)
    for th, h in zip(heads, SHEET_HEADINGS):
        en, ko = h.split(" / ", 1)
        assert th == f'{en}<span class="ko">{ko}</span>'
    rows = sheet_rows(load_site(MANIFESTS / "site.example.yaml"), list(FLOWS))
    shown = [re.findall(r"<td[^>]*>(.*?)</td>", r) for r in table.split("<tbody>", 1)[1].split("<tr>")[1:]]
    assert len(shown) == len(rows)
    assert [[c.replace(" → ", " -> ").replace("&gt;", ">") for c in r] for r in shown] == rows


def test_23_print_css_is_a4_landscape(tmp_path):
    html = render_report(make_tree(tmp_path))
    css = html.split("<style>", 1)[1].split("</style>", 1)[0]
    assert "@page{size:A4 landscape;margin:10mm}" in css
    assert "@media print{" in css and "thead{display:table-header-group}" in css
    assert "table.sheet td{white-space:nowrap}" in css


# ---------------------------------------------------------------- 24: the diagram and the date card

def _bezier(p0, p1, p2, p3, n=32):
    for i in range(n + 1):
        t = i / n
        u = 1 - t
        yield (u ** 3 * p0[0] + 3 * u * u * t * p1[0] + 3 * u * t * t * p2[0] + t ** 3 * p3[0],
               u ** 3 * p0[1] + 3 * u * u * t * p1[1] + 3 * u * t * t * p2[1] + t ** 3 * p3[1])


def edges_through_labels(svg_text: str) -> list[tuple[str, str]]:
    """(label, edge) for every edge of dot's SVG whose path passes through the text of a node or
    cluster label (text box: its font size high, 0.6 em per character wide, as dot lays it out)."""
    root = ET.fromstring(svg_text[svg_text.index("<svg"):])
    boxes, paths = [], []
    for g in root.iter(SVG + "g"):
        if g.get("class") in ("node", "cluster"):
            for t in g.findall(SVG + "text"):
                fs = float(t.get("font-size", "10"))
                w, x, y = len(t.text or "") * fs * 0.6, float(t.get("x")), float(t.get("y"))
                x0 = x - w / 2 if t.get("text-anchor") == "middle" else x
                boxes.append((t.text, x0, y - fs * 0.8, x0 + w, y + fs * 0.2))
        elif g.get("class") == "edge":
            for p in g.findall(SVG + "path"):
                pts = [tuple(map(float, xy.split(","))) for xy in re.findall(r"-?[\d.]+,-?[\d.]+", p.get("d"))]
                curve, p0 = [], pts[0]
                for i in range(1, len(pts) - 2, 3):
                    curve += list(_bezier(p0, pts[i], pts[i + 1], pts[i + 2]))
                    p0 = pts[i + 2]
                paths.append((g.findtext(SVG + "title"), curve))
    return [(label, title) for label, x0, y0, x1, y1 in boxes for title, curve in paths
            if any(x0 <= x <= x1 and y0 <= y <= y1 for x, y in curve)]


def test_24_the_checker_sees_an_edge_through_a_cluster_label():
    """The geometry check against a hand-made layout where an edge crosses the 'db-node' label."""
    svg = ('<svg xmlns="http://www.w3.org/2000/svg"><g class="cluster"><title>cluster_1</title>'
           '<text text-anchor="middle" x="100" y="50" font-size="14.00">db-node</text></g>'
           '<g class="edge"><title>n4-&gt;n3</title><path d="M100,0C100,30 100,70 100,100"/></g></svg>')
    assert edges_through_labels(svg) == [("db-node", "n4->n3")]


@pytest.mark.parametrize("site_file", ["site.example.yaml"])
def test_24_no_edge_runs_through_a_label(site_file):
    from bundler.site.plan import diagram_dot, render_svg
    site = load_site(MANIFESTS / site_file)
    svg = render_svg(diagram_dot(site))
    texts = {t.text for t in ET.fromstring(svg[svg.index("<svg"):]).iter(SVG + "text")}
    assert {"db-node", "arbitrator", "app-node + mq-node"} <= texts
    assert edges_through_labels(svg) == []


@pytest.mark.parametrize("name", ["site-3db.yaml", "site-arb.yaml"])
def test_24_the_lab_sites_too(name, tmp_path):
    from bundler.site.plan import diagram_dot, render_svg
    lab = Path(__file__).resolve().parents[2] / "scripts" / "lab" / name
    (tmp_path / name).write_text(lab.read_text())
    (tmp_path / "WorkCenter.jar").write_bytes(b"PK\x03\x04 stand-in")
    assert edges_through_labels(render_svg(diagram_dot(load_site(tmp_path / name)))) == []


def test_24_the_date_card_does_not_wrap(tmp_path):
    html = render_report(make_tree(tmp_path))
    css = html.split("<style>", 1)[1].split("</style>", 1)[0]
    assert ".card b{display:block;font-size:20px;color:#1e3a5f;white-space:nowrap}" in css
    assert '<div class="card"><b>2026-11-26 16:00:00</b><span>built (UTC)</span></div>' in html


# ---------------------------------------------------------------- 25: one source for the counts

def _lock_with_obsoletes(tmp_path: Path, legacy: bool = False) -> Path:
    """make_tree's lock, with db-node's MariaDB-compat obsoleting @core's mariadb-libs and an
    openssl-libs upgrade, recorded as resolve records them (legacy: as locks before `replaces`)."""
    top = make_tree(tmp_path)
    doc = json.loads((top / "bundle.json").read_text())
    compat = pkg("MariaDB-compat", ["db-node"], ["MariaDB-server", "MariaDB-compat"], 2_000_000, repo="mariadb")
    if legacy:
        compat["upgrade_of"] = "mariadb-libs-1:5.5.56-2.el7.x86_64"
    else:
        compat["replaces"] = ["mariadb-libs-1:5.5.56-2.el7.x86_64"]
    ssl = pkg("openssl-libs", ["db-node"], ["MariaDB-server", "openssl-libs"], 1_000_000)
    ssl["upgrade_of"] = "openssl-libs-1:1.0.2k-12.el7.x86_64"
    doc["lock"]["packages"] += [compat, ssl]
    db = doc["lock"]["roles"]["db-node"]
    db["install"] = ["MariaDB-compat-0:1.0-1.el7.x86_64", "MariaDB-server-0:1.0-1.el7.x86_64",
                     "galera-4-0:1.0-1.el7.x86_64"]
    db["upgrade"] = ["openssl-libs-0:1.0-1.el7.x86_64"]
    if not legacy:
        db["replaced"] = ["mariadb-libs-1:5.5.56-2.el7.x86_64"]
    (top / "bundle.json").write_text(json.dumps(doc))
    return top


@pytest.mark.parametrize("legacy", [False, True])
def test_25_report_and_inspect_count_from_the_lock_and_say_replaces(tmp_path, legacy):
    from bundler.changes import changes_words
    top = _lock_with_obsoletes(tmp_path, legacy)
    lock = json.loads((top / "bundle.json").read_text())["lock"]
    ch = role_changes(lock)["db-node"]
    assert len(ch.install) == 3 and ch.total == 4
    assert ch.upgrade == [("openssl-libs-0:1.0-1.el7.x86_64", "openssl-libs-1:1.0.2k-12.el7.x86_64")]
    assert ch.replace == [("MariaDB-compat-0:1.0-1.el7.x86_64", "mariadb-libs-1:5.5.56-2.el7.x86_64")]
    html = render_report(top)
    assert "(replaces mariadb-libs-1:5.5.56-2.el7.x86_64, through Obsoletes)" in html
    assert "upgrades mariadb-libs" not in html
    assert "(upgrades openssl-libs-1:1.0.2k-12.el7.x86_64)" in html
    row = re.search(r"<tr><td>db-node</td>(.*?)</tr>", section(html, "Roles and packages")).group(1)
    assert re.findall(r'<td class="num">([^<]*)</td>', row)[:4] == ["4", "3", "1", "1"]
    info = summarize((top / "bundle.json").read_bytes(), "b", None)
    assert info["changes"]["db-node"]["replace"] == [["MariaDB-compat-0:1.0-1.el7.x86_64",
                                                      "mariadb-libs-1:5.5.56-2.el7.x86_64"]]
    assert changes_words(info["changes"]["db-node"]) == \
        "4 packages (3 new, 1 upgrade); replaces 1 baseline package through Obsoletes"
    assert changes_words(ch) == changes_words(info["changes"]["db-node"])
