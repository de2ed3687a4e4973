"""A real bundle's report.html in headless Chromium, and its SBOM against its repo/.

One EL7 bundle is built with `wcbundle build --site` against the fixture world
(file:// repos, nothing leaves the machine), then extracted with the verifying
extractor. Chromium (Debian's /usr/bin/chromium) loads the report from disk with
networking disabled (no proxy reachable, every host name unresolvable, no
background services); its console output is scanned for errors, its DOM for
the expected content, and its screenshot (decoded here with zlib/struct) for
pixel variance. The same scanners are shown to fail on a broken and a blank page.
"""

from __future__ import annotations

import json
import shutil
import struct
import zlib
from pathlib import Path

import pytest

from bundler.cli import main
from bundler.core.paths import MANIFESTS
from bundler.core.run import run

pytestmark = [pytest.mark.integration, pytest.mark.slow,
              pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="Debian chromium not installed")]

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-default-apps", "--disable-extensions", "--host-resolver-rules=MAP * ~NOTFOUND",
                  "--proxy-server=127.0.0.1:9", "--enable-logging=stderr", "--v=0"]


def chromium(tmp: Path, page: Path, *extra: str) -> tuple[str, str]:
    """Run headless Chromium on a local file; returns (stdout, stderr). Bounded by a timeout."""
    profile = tmp / f"profile-{page.stem}-{len(extra)}"
    proc = run(["/usr/bin/chromium", *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri()],
               check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, proc.stderr


def console_problems(stderr: str) -> list[str]:
    """Console messages (a page without scripts should log none) and uncaught errors."""
    return [ln for ln in stderr.splitlines() if ":CONSOLE" in ln or "Uncaught" in ln]


def png_pixels(path: Path) -> tuple[int, int, int, list[bytes]]:
    """Decode an 8-bit RGB/RGBA PNG: (width, height, bytes per pixel, unfiltered rows)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, [], 0
    while pos < len(data):
        (length,), ctype = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if ctype == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and color in (2, 6) and interlace == 0, (depth, color, interlace)
            bpp = 3 if color == 2 else 4
        elif ctype == b"IDAT":
            idat.append(body)
        pos += 12 + length
    raw = zlib.decompress(b"".join(idat))
    stride, rows, prev = width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        ftype, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
            if ftype == 1:
                line[i] = (line[i] + a) & 0xFF
            elif ftype == 2:
                line[i] = (line[i] + b) & 0xFF
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def luminance_stats(path: Path) -> tuple[float, int]:
    """(variance of luminance, number of distinct colours) over every 3rd pixel."""
    width, height, bpp, rows = png_pixels(path)
    values, colours = [], set()
    for row in rows[::3]:
        for x in range(0, width * bpp, bpp * 3):
            r, g, b = row[x], row[x + 1], row[x + 2]
            values.append(0.299 * r + 0.587 * g + 0.114 * b)
            colours.add((r, g, b))
    mean = sum(values) / len(values)
    return sum((v - mean) ** 2 for v in values) / len(values), len(colours)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> tuple[Path, Path]:
    from bundler.carry.verify import extract_bundle
    from scripts.world import ensure
    tmp = tmp_path_factory.mktemp("report-bundle")
    site = tmp / "site.yaml"
    site.write_text(MANIFESTS.joinpath("site.example.yaml").read_text().replace("# jar: WorkCenter.jar",
                                                                                "jar: WorkCenter.jar"))
    (tmp / "WorkCenter.jar").write_bytes(b"PK\x03\x04 fixture jar")
    world = ensure(7)
    rc = main(["-q", "build", "--el", "7", *world.repo_args(world.root.as_uri()), "--site", str(site),
               "--cache", str(tmp / "cache"), "--out", str(tmp / "out")])
    assert rc == 0
    (tar,) = (tmp / "out").glob("*.tar")
    return extract_bundle(tar, tmp / "x"), tar


def test_sbom_validates_and_lists_exactly_the_rpms_in_repo(bundle):
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document
    top, _ = bundle
    assert validate_full_spdx_document(parse_file(str(top / "sbom.spdx.json")), "SPDX-2.3") == []
    doc = json.loads((top / "sbom.spdx.json").read_text())
    listed = sorted(p["packageFileName"] for p in doc["packages"] if "packageFileName" in p)
    on_disk = sorted(f.relative_to(top / "repo").as_posix() for f in (top / "repo").rglob("*.rpm"))
    assert listed == on_disk and len(on_disk) > 20
    lock = json.loads((top / "bundle.json").read_text())["lock"]
    assert len(on_disk) == len(lock["packages"])


def test_report_next_to_the_tar_is_the_bundled_one(bundle):
    top, tar = bundle
    assert (tar.parent / f"{top.name}.report.html").read_bytes() == (top / "report.html").read_bytes()


def test_report_renders_in_headless_chromium(bundle, tmp_path):
    top, _ = bundle
    dom, err = chromium(tmp_path, top / "report.html", "--dump-dom")
    assert console_problems(err) == []
    for needle in (top.name, "EL7 x86_64", "25672/tcp", "4444/tcp", "4568/tcp", "wc-db1", "wc-arb",
                   "./install.sh --role db-node", f"sha256sum -c {top.name}.tar.sha256", "출발지",
                   "MariaDB-server", "galera-4", "<svg"):
        assert needle in dom, needle
    shot = tmp_path / "report.png"
    _, err = chromium(tmp_path, top / "report.html", f"--screenshot={shot}", "--window-size=1280,2000")
    assert console_problems(err) == []
    variance, colours = luminance_stats(shot)
    assert variance > 200 and colours > 50, (variance, colours)
    keep = Path("/tmp/wcbundle-report-screenshot.png")  # for a human to look at after a run
    shutil.copyfile(shot, keep)


def test_installer_applies_exactly_the_plan_rules(bundle, tmp_path):
    """The acceptance "same table": install.sh, reading the bundle's site/flows.tsv and
    site.env, prints (firewall backend none, --dry-run) the argv flows.firewalld_rules gives."""
    import shlex

    from bundler.site.flows import firewalld_rules
    from bundler.site.model import load_site
    top, _ = bundle
    site = load_site(top.parent.parent / "site.yaml")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "os-release").write_text('NAME="CentOS Linux"\nID="centos"\nVERSION_ID="7"\n')
    (root / "etc" / "hosts").write_text("127.0.0.1 localhost\n")
    env = {"WCB_ROOT": str(root), "WCB_FIREWALL_BACKEND": "none", "WCB_TEST_ARCH": "x86_64"}
    for node in site.nodes:
        proc = run([str(top / "install.sh"), "--dry-run", "--node", node.name, "--role", ",".join(node.roles)],
                   env=env, check=False, timeout=120)
        printed = [shlex.split(ln.split("firewall: ", 1)[1]) for ln in proc.stdout.splitlines()
                   if ln.startswith("    firewall: firewall-cmd")]
        assert printed == [*firewalld_rules(site, node.name), ["firewall-cmd", "--reload"]], \
            (node.name, proc.stdout[-3000:], proc.stderr[-2000:])


def test_the_scanners_catch_a_broken_and_a_blank_page(tmp_path):
    broken = tmp_path / "broken.html"
    broken.write_text('<!DOCTYPE html><p>x</p><script>throw new Error("boom")</script>')
    _, err = chromium(tmp_path, broken, "--dump-dom")
    assert any("Uncaught Error: boom" in ln for ln in console_problems(err))
    blank = tmp_path / "blank.html"
    blank.write_text("<!DOCTYPE html><html><body style='background:#fff'></body></html>")
    shot = tmp_path / "blank.png"
    chromium(tmp_path, blank, f"--screenshot={shot}", "--window-size=1280,2000")
    variance, colours = luminance_stats(shot)
    assert variance < 1 and colours <= 2, (variance, colours)


LAYOUT_JS = """(() => {
  const lines = el => { const r = document.createRange(); r.selectNodeContents(el);
    return new Set([...r.getClientRects()].filter(x => x.width > 0).map(x => Math.round(x.top))).size; };
  const after = text => { const h = [...document.querySelectorAll('h3')].find(h => h.textContent.startsWith(text));
    return h && h.nextElementSibling; };
  const sheet = document.querySelector('table.sheet') || after('Firewall request sheet');
  const rows = [...sheet.querySelectorAll('tbody tr')].map(tr => [...tr.cells].map(lines));
  const hostTable = after('The hosts of this site') || after('Per host of this site');
  const hosts = [...hostTable.querySelectorAll('tbody tr')].map(tr => tr.cells[1].textContent);
  return {rows: rows, purpose: [...sheet.querySelectorAll('thead th')].findIndex(
            th => th.textContent.startsWith('Purpose')),
          cards: [...document.querySelectorAll('.card b')].map(b => [b.textContent, lines(b)]),
          overflow: document.documentElement.scrollWidth - window.innerWidth,
          hosts: hosts,
          secrets: !!document.querySelector('section.secrets')};
})()"""


@pytest.mark.parametrize("media", ["screen", "print"])
def test_report_layout_for_reading_and_printing(bundle, tmp_path, media):
    """Issue 16, points 21-24, measured in Chromium's own layout: screen at 1280 px, and print
    media at the content width of an A4 landscape page (the report's @page). Every firewall sheet
    row is one line (the purpose alone may wrap on screen), the date card does not wrap, nothing
    overflows the page, the hosts are listed in install order, the secrets warning is there."""
    from cdp import A4_LANDSCAPE_CONTENT_PX, Browser
    top, _ = bundle
    size = (1280, 900) if media == "screen" else A4_LANDSCAPE_CONTENT_PX
    with Browser(tmp_path / "profile") as b:
        b.open((top / "report.html").as_uri(), *size, media)
        got = b.evaluate(LAYOUT_JS)
        b.screenshot(tmp_path / "page.png")
        if media == "print":
            b.pdf(tmp_path / "report.pdf")
    shutil.copyfile(tmp_path / "page.png", f"/tmp/wcbundle-report-{media}.png")  # for a human to look at
    assert got["overflow"] <= 0, got["overflow"]
    assert all(n == 1 for _, n in got["cards"]), got["cards"]
    assert got["rows"] and all(n == 1 for row in got["rows"] for i, n in enumerate(row) if i != got["purpose"]), \
        got["rows"]
    if media == "print":
        assert all(n == 1 for row in got["rows"] for n in row), got["rows"]
    assert got["hosts"] == ["wc-db1", "wc-db2", "wc-arb", "wc-app1", "wc-app2"]
    assert got["secrets"]
    if media == "print":
        import re
        pdf = (tmp_path / "report.pdf").read_bytes()
        boxes = {tuple(round(float(v)) for v in m.split()) for m in
                 re.findall(rb"/MediaBox\s*\[([^\]]*)\]", pdf)}
        assert boxes == {(0, 0, 842, 595)}, boxes  # A4 landscape in points
    variance, colours = luminance_stats(tmp_path / "page.png")
    assert variance > 200 and colours > 50


def test_resolve_inspect_and_report_agree_on_replaces(bundle, capsys):
    """Point 25: MariaDB-compat replaces @core's mariadb-libs through Obsoletes; resolve, inspect
    and report.html all say so, with the same counts."""
    import re

    from scripts.world import ensure
    top, tar = bundle
    world = ensure(7)
    args = world.repo_args(world.root.as_uri())
    repos = [a for i in range(0, len(args), 2) if args[i] == "--repo" for a in args[i:i + 2]]
    assert main(["resolve", "--el", "7", *repos, "--role", "db-node",
                 "--cache", str(tar.parent.parent / "cache")]) == 0
    out = capsys.readouterr().out
    row = next(ln.split() for ln in out.splitlines() if ln.startswith("db-node "))
    assert row[3] == "1", out   # REPLACES
    assert re.search(r"^db-node: MariaDB-compat-\S+ replaces mariadb-libs-\S+ \(Obsoletes\)$", out, re.M), out
    assert main(["inspect", str(tar)]) == 0
    out = capsys.readouterr().out
    assert re.search(rf"Role db-node: \d+ packages \({int(row[1])} new, {row[2]} upgrades?\); replaces 1 baseline "
                     r"package through Obsoletes", out), out
    assert re.search(r"MariaDB-compat-\S+  \(replaces mariadb-libs-\S+ through Obsoletes\)", out), out
    html = (top / "report.html").read_text()
    assert re.search(r"\(replaces mariadb-libs-[^,]+, through Obsoletes\)", html)
    assert "upgrades mariadb-libs" not in html
