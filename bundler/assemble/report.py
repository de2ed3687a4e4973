"""report.html: one offline, self-contained page describing a bundle.

`write_report(bundle_top, dest)` reads only the bundle tree (bundle.json for
the lock, build and site facts; site/site.env and site/flows.tsv for the plan;
sbom.spdx.json for licenses), so the page shows what was actually packed. The
page is a single file: inline CSS, the topology as inline SVG (graphviz `dot`),
no script, no external reference of any kind. Every text value is escaped.
"""

from __future__ import annotations

import html
import json
import logging
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from ..core.errors import EnvironmentProblem, IntegrityError, WcbundleError
from ..core.fileutil import atomic_write
from ..core.units import human_size
from ..site import roles
from ..site.flows import FLOWS, Flow, read_flows_tsv

log = logging.getLogger("wcbundle")

CSS = """
*{box-sizing:border-box}
body{font-family:"DejaVu Sans","Noto Sans CJK KR","Malgun Gothic","NanumGothic",sans-serif;margin:0;color:#1f2937;
 background:#f3f4f6;font-size:14px;line-height:1.45}
main{max-width:1200px;margin:0 auto;padding:24px}
header{background:#1e3a5f;color:#fff;padding:20px 24px}
header h1{margin:0 0 4px;font-size:22px}
header p{margin:0;opacity:.85}
section{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:16px 20px;margin:0 0 18px}
h2{font-size:18px;margin:0 0 12px;color:#1e3a5f}
h3{font-size:15px;margin:14px 0 6px}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{flex:1 1 auto;min-width:110px;background:#eef2ff;border-radius:6px;padding:10px 12px}
.card b{display:block;font-size:20px;color:#1e3a5f;white-space:nowrap}
.card span{font-size:12px;color:#4b5563}
table{border-collapse:collapse;width:100%;font-size:12.5px}
th,td{border:1px solid #e5e7eb;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f9fafb}
tr:nth-child(even) td{background:#fcfcfd}
td.num{text-align:right;white-space:nowrap}
code,pre{font-family:"DejaVu Sans Mono",monospace;font-size:12.5px}
pre{background:#111827;color:#e5e7eb;padding:10px 12px;border-radius:6px;overflow-x:auto;white-space:pre-wrap}
details{margin:6px 0}
summary{cursor:pointer;font-weight:bold}
.why{color:#4b5563}
.tag{display:inline-block;background:#e0e7ff;border-radius:4px;padding:0 5px;margin:0 2px 2px 0;font-size:12px}
.warn{color:#92400e}
section.alert,section.secrets{background:#fef3c7;border:2px solid #d97706}
section.alert h2,section.secrets h2{color:#92400e}
.diagram{text-align:center}
.diagram svg{max-width:100%;height:auto}
ol.order{margin:4px 0 10px;padding-left:22px}
ol.order li{margin:2px 0}
.ko{display:block;font-weight:normal;color:#4b5563}
.sheet-wrap{overflow-x:auto}
table.sheet{width:auto;min-width:100%}
table.sheet td{white-space:nowrap}
table.sheet td.purpose{white-space:normal;min-width:13em}
@page{size:A4 landscape;margin:10mm}
@media print{
 *{-webkit-print-color-adjust:exact;print-color-adjust:exact}
 body{background:#fff;font-size:11px;line-height:1.35}
 header{background:#fff;color:#1e3a5f;padding:0 0 6px;margin:0 0 10px;border-bottom:2px solid #1e3a5f}
 main{max-width:none;padding:0}
 section{border:0;border-radius:0;padding:0;margin:0 0 12px}
 section.alert,section.secrets{border:2px solid #d97706;padding:6px 10px}
 h2{font-size:15px;break-after:avoid}
 h3{font-size:12.5px;break-after:avoid}
 table,code,pre{font-size:9.5px}
 tr{break-inside:avoid}
 thead{display:table-header-group}
 th,td{padding:2px 4px}
 .card{padding:4px 8px}
 .card b{font-size:14px}
 .sheet-wrap{overflow:visible}
 .diagram{break-inside:avoid}
 .diagram svg{max-height:150mm}
 pre{background:#f9fafb;color:#111827;border:1px solid #d1d5db}
 summary{list-style:none}
}
"""


def e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _baseline_text(baseline: dict) -> str:
    """'minimal (@core), 275 packages installed on the target' from the lock's baseline entry."""
    kind = baseline.get("kind", "?")
    source = baseline.get("source")
    text = kind + (f" ({source})" if source and source != kind else "")
    if "count" in baseline:
        text += f", {baseline['count']} packages assumed installed on the target"
    return text


def _table(headings: list[str], rows: list[list[str]], num_cols: tuple[int, ...] = ()) -> str:
    """An HTML table; cells are escaped here unless already marked up (tuple ('raw', html))."""
    out = ["<table><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in headings) + "</tr></thead><tbody>"]
    for row in rows:
        cells = []
        for i, c in enumerate(row):
            body = c[1] if isinstance(c, tuple) else e(c)
            cells.append(f'<td class="num">{body}</td>' if i in num_cols else f"<td>{body}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    return "".join(out) + "</tbody></table>"


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise IntegrityError(f"cannot read {what} {path}: {exc.strerror}",
                             hint="The report is written from a complete bundle tree; rebuild it.") from None
    except ValueError as exc:
        raise IntegrityError(f"{what} {path} is not valid JSON: {exc}", hint="Rebuild the bundle.") from None


def _sbom_licenses(top: Path) -> tuple[dict[str, str], dict | None]:
    """packageFileName -> the license to show, and the SBOM document (None if absent).

    An SPDX expression is shown as is; a LicenseRef-... (an RPM tag with no
    certain SPDX meaning) is shown as the RPM tag it stands for."""
    path = top / "sbom.spdx.json"
    if not path.is_file():
        return {}, None
    doc = _read_json(path, "the SBOM")
    refs = {r.get("licenseId"): r.get("extractedText", "") for r in doc.get("hasExtractedLicensingInfos", [])}
    return {p.get("packageFileName", "").rsplit("/", 1)[-1]: _shown(p.get("licenseDeclared", ""), refs)
            for p in doc.get("packages", [])}, doc


def _shown(declared: str, refs: dict[str, str]) -> str:
    return f"{refs[declared]} (RPM tag)" if declared in refs else declared


def _header(top: Path, lock: dict, build: dict, n_pkgs: int, total: int) -> str:
    cards = [("EL / arch", f"EL{lock.get('el', '?')} {lock.get('arch', '?')}"),
             ("packages", str(n_pkgs)), ("total size", human_size(total)),
             ("roles", str(len(lock.get("roles", {})))),
             ("built (UTC)", str(build.get("time", "unknown")).replace("T", " ").rstrip("Z")),
             ("signed", "yes" if build.get("signed") else "no")]
    card_html = "".join(f'<div class="card"><b>{e(v)}</b><span>{e(k)}</span></div>' for k, v in cards)
    manifest = lock.get("manifest", {})
    builder = build.get("builder_os", {})
    facts = [["Bundle", top.name], ["Manifest", f"{manifest.get('name', '?')} (sha256 {manifest.get('sha256', '?')})"],
             ["Baseline", _baseline_text(lock.get("baseline", {}))],
             ["Tool", f"{build.get('tool', 'wcbundle')} {build.get('tool_version', '?')}"],
             ["Builder OS", builder.get("pretty_name") or builder.get("system", "?")],
             ["Repos", ", ".join(sorted(lock.get("repos", {})))]]
    return (f'<section><h2>Build / 빌드 정보</h2><div class="cards">{card_html}</div>'
            f"<h3>Details</h3>{_table(['Item', 'Value'], facts)}</section>")


def _secrets_alert(top: Path) -> str:
    """A bundle built with --site carries site/secrets.env: say so where nobody can miss it."""
    if not (top / "site" / "secrets.env").is_file():
        return ""
    return ('<section class="secrets"><h2>⚠ This bundle carries the site\'s secrets / 사이트 비밀 정보 포함</h2>'
            f"<p><code>{e(top.name)}.tar</code> holds <code>site/secrets.env</code>: the database root, SST and "
            "application passwords, the RabbitMQ passwords and the Erlang cookie of this site. Handle the tar "
            "(and its split parts) like those passwords: it is written mode 0600; copy it only to the target "
            "hosts, keep the USB stick under your control, and delete the copies once the hosts are "
            "installed.</p><p>이 번들에는 사이트의 비밀번호(DB, RabbitMQ, Erlang 쿠키)가 들어 있습니다. "
            "비밀번호와 같이 취급하고, 설치 후 사본을 삭제하십시오.</p></section>")


def _verify(top: Path, build: dict) -> str:
    tar = f"{top.name}.tar"
    cmds = [f"sha256sum -c {tar}.sha256", f"wcbundle verify {tar}"]
    text = ("<p>On the builder side, or on any machine the tar passes through:</p>"
            f"<pre>{e(chr(10).join(cmds))}</pre>"
            "<p>On the target, <code>./install.sh --check</code> re-checks every file against "
            "<code>MANIFEST.sha256</code> before anything is touched.</p>")
    if build.get("signed"):
        fpr = build.get("signer_fpr", "")
        sig = [f"gpg --verify {tar}.sha256.asc {tar}.sha256",
               f"wcbundle verify --require-signature {fpr} {tar}",
               "gpg --verify MANIFEST.sha256.asc MANIFEST.sha256    # inside the extracted bundle"]
        text += ("<p>The bundle is signed (the tar's .sha256 sidecar and MANIFEST.sha256). Check the "
                 "signatures, and compare the fingerprint with the one you were given out of band:</p>"
                 f"<pre>{e(chr(10).join(sig))}</pre>"
                 f"<p>Signer fingerprint / 서명 키 지문: <code>{e(fpr)}</code></p>")
    else:
        text += '<p class="warn">This bundle is not signed (built without --sign-key).</p>'
    return f"<section><h2>How to verify / 무결성 확인</h2>{text}</section>"


def _allowed_unsigned(build: dict) -> list[str]:
    sigs = build.get("signatures") or {}
    return sorted(set(build.get("allow_unsigned") or []) | set(sigs.get("allow_unsigned") or []))


def _escape_hatch(build: dict) -> str:
    """The --allow-unsigned warning box, first on the page; empty when the build did not use it."""
    repos = _allowed_unsigned(build)
    if not repos:
        return ""
    sigs = build.get("signatures") or {}
    accepted = sorted(sigs.get("unsigned_allowed") or [])
    text = (f"<p>Built with <code>{e(' '.join('--allow-unsigned ' + r for r in repos))}</code>: packages of "
            f"{'this repo' if len(repos) == 1 else 'these repos'} ({e(', '.join(repos))}) were accepted without "
            "a verified RPM signature (unsigned, or signed by a key the build did not hold). For them, only the "
            "repo metadata checksums and MANIFEST.sha256 vouch for the bytes, not the vendor's key.</p>")
    if accepted:
        text += (f"<details open><summary>{len(accepted)} package{'s' if len(accepted) != 1 else ''} accepted "
                 "without a verified signature / 서명 미검증 패키지</summary>"
                 + _table(["Package (NEVRA)"], [[n] for n in accepted]) + "</details>")
    elif sigs:
        text += "<p>No package needed it: every package of these repos had a verified signature.</p>"
    return ('<section class="alert"><h2>⚠ Unsigned packages allowed / 서명 검증 예외 (--allow-unsigned)</h2>'
            f"{text}</section>")


def _signatures(lock: dict, build: dict) -> str:
    """Per repo: the keys its packages were checked against, and how many passed."""
    sigs = build.get("signatures") or {}
    if not sigs:
        return ('<section><h2>RPM signatures / RPM 서명</h2><p class="warn">bundle.json records no RPM '
                "signature check for this bundle.</p></section>")
    allowed, keys = set(_allowed_unsigned(build)), sigs.get("keys") or {}
    unsigned = set(sigs.get("unsigned_allowed") or [])
    per_repo: dict[str, list[int]] = {}
    for p in lock.get("packages", []):
        nevra = f"{p['name']}-{p.get('epoch', 0)}:{p['version']}-{p['release']}.{p['arch']}"
        counts = per_repo.setdefault(p.get("repo", "?"), [0, 0])
        counts[0] += 1
        counts[1] += nevra in unsigned
    rows = []
    for repo in sorted(set(per_repo) | set(keys) | allowed):
        n, n_unsigned = per_repo.get(repo, [0, 0])
        ids = keys.get(repo) or []
        key_cell = ("raw", " ".join(f"<code>{e(k)}</code>" for k in ids)) if ids else ("raw", '<span class="warn">none</span>')
        if repo in allowed:
            note = ("raw", f'<span class="warn">--allow-unsigned: {n_unsigned} accepted without a verified '
                           "signature</span>")
        else:
            note = "all verified"
        pins = (lock.get("repos", {}).get(repo) or {}).get("fingerprints") or []
        pin_cell = ("raw", "<br>".join(f"<code>{e(' '.join(f[i:i + 4] for i in range(0, len(f), 4)))}</code>"
                                       for f in pins) or '<span class="warn">none pinned</span>')
        rows.append([repo, key_cell, pin_cell, str(n), note])
    return ("<section><h2>RPM signatures / RPM 서명</h2>"
            f"<p>{e(sigs.get('signed_ok', '?'))} of {e(sigs.get('checked', '?'))} packages have a signature "
            "verified against their repo's GPG keys (rpmkeys --checksig); the keys are in <code>keys/</code>.</p>"
            + "<p>Only keys whose full fingerprint is pinned (the manifest's <code>fingerprints</code>, or "
            "<code>--key-fingerprint</code>) were imported.</p>"
            + _table(["Repo", "Signing keys (rpm key ids)", "Pinned fingerprints", "Packages", "Signature check"],
                     rows, num_cols=(3,))
            + "</section>")


# the order install.sh expects the roles in (bundler/site/roles.py, README "Using it on a real connected host")
INSTALL_ORDER = roles.INSTALL_ORDER
ROLE_STEP = {r.name: r.step for r in roles.ROLES}


def install_order(site: Any) -> list[Any]:
    """The site's hosts in install order: by their earliest role in INSTALL_ORDER, then site order."""
    def rank(n: Any) -> int:
        return min(INSTALL_ORDER.index(r) for r in n.roles if r in INSTALL_ORDER)
    return sorted(site.nodes, key=lambda n: (rank(n), site.nodes.index(n)))


def _host_does(site: Any, node: Any) -> str:
    first = {role: next((n.name for n in site.nodes if role in n.roles), None) for role in ("db-node", "mq-node")}
    out = []
    for role in (r for r in INSTALL_ORDER if r in node.roles):
        out.append({"db-node": "bootstraps the Galera cluster" if node.name == first["db-node"]
                    else "joins the Galera cluster",
                    "arbitrator": "garbd joins the Galera cluster",
                    "mq-node": "RabbitMQ forms the cluster" if node.name == first["mq-node"]
                    else "RabbitMQ joins the cluster",
                    "app-node": "starts WorkCenter"}.get(role, roles.BY_NAME[role].summary))  # control-node: Ansible
    return "; ".join(out)


def _commands(top: Path, lock: dict, site: Any) -> str:
    extract = f"tar -xf {top.name}.tar && cd {top.name}"
    roles = [r for r in INSTALL_ORDER if r in lock.get("roles", {})]
    roles += sorted(set(lock.get("roles", {})) - set(roles))
    steps = "".join(f"<li><b>{e(r)}</b>: {e(ROLE_STEP.get(r, 'then this role'))}</li>" for r in roles)
    out = ("<section><h2>Install on the targets, in this order / 설치 순서</h2>"
           "<p>Copy the tar (and its .sha256) to each host, check it, extract it, and run the installer "
           "as root, host by host in this order (each run ends with a health check):</p>"
           f'<ol class="order">{steps}</ol>')
    if site is not None:
        host_rows = [[str(i), n.name, n.ip, " ".join(r for r in INSTALL_ORDER if r in n.roles),
                      ("raw", f"<code>{e('./install.sh --role ' + ','.join(n.roles))}</code>"), _host_does(site, n)]
                     for i, n in enumerate(install_order(site), 1)]
        out += ("<h3>The hosts of this site, in install order / 호스트별 설치 순서</h3>"
                + _table(["Step", "Host", "IP", "Roles", "Command (as root, in the extracted bundle)",
                          "What happens"], host_rows, num_cols=(0,)))
    rows = [[r, ("raw", f"<code>{e(extract)}</code>"), ("raw", f"<code>{e(f'./install.sh --role {r}')}</code>")]
            for r in roles]
    out += ("<h3>Per role / 역할별 명령</h3>"
            + _table(["Role / 역할", "1. Extract / 압축 해제", "2. Install / 설치"], rows))
    return out + "</section>"


def _packages(lock: dict, licenses: dict[str, str]) -> str:
    from ..changes import replaced_by, role_changes, upgraded_by
    pkgs = lock.get("packages", [])
    changes = role_changes(lock)  # the counts resolve and inspect print too
    out = ["<section><h2>Roles and packages / 역할별 패키지</h2>"]
    summary = []
    for role, r in sorted(lock.get("roles", {}).items()):
        mine = [p for p in pkgs if role in p.get("roles", [])]
        ch = changes[role]
        summary.append([role, " ".join(r.get("requested", [])), str(ch.total), str(len(ch.install)),
                        str(len(ch.upgrade)), str(len(ch.replace)),
                        human_size(sum(int(p.get("size") or 0) for p in mine))])
    out.append(_table(["Role", "Requested", "Packages", "New", "Upgrades", "Replaces (baseline packages, "
                       "through Obsoletes)", "Size"], summary, num_cols=(2, 3, 4, 5, 6)))
    for role in sorted(lock.get("roles", {})):
        mine = [p for p in pkgs if role in p.get("roles", [])]
        rows = []
        for p in mine:
            fname = p.get("location", "").rsplit("/", 1)[-1]
            why = " → ".join(p.get("why", []))
            notes = []
            old = upgraded_by(p)
            if old:
                notes.append(f"upgrades {old}")
            if replaced_by(p):
                notes.append(f"replaces {', '.join(replaced_by(p))}, through Obsoletes")
            note = f" ({'; '.join(notes)})" if notes else ""
            rows.append([p["name"], f"{p.get('epoch', 0)}:{p['version']}-{p['release']}.{p['arch']}" + note,
                         p.get("repo", ""), ("raw", f'<span class="why">{e(why)}</span>'),
                         licenses.get(fname) or p.get("license", ""), human_size(int(p.get("size") or 0))])
        out.append(f"<details open><summary>{e(role)}: {len(mine)} packages</summary>"
                   + _table(["Package", "Version", "Repo", "Why (requested → … → this)", "License", "Size"],
                            rows, num_cols=(5,)) + "</details>")
    joint_rows = []
    for key in sorted(lock.get("joint") or {}):   # role sets one host holds, solved as one job
        mine = [p for p in pkgs if key in p.get("joint", [])]
        extra = [f"{p['name']}-{p['version']}-{p['release']}.{p['arch']}" for p in mine if not p.get("roles")]
        joint_rows.append([key.replace("+", " + "), str(len(mine)), " ".join(extra) or "none"])
    if joint_rows:
        out.append("<h3>Roles installed together / 함께 설치되는 역할</h3>"
                   + _table(["Roles (one host)", "Packages", "Only for this combination"], joint_rows,
                            num_cols=(1,)))
    by_repo: dict[str, list[int]] = {}
    for p in pkgs:
        by_repo.setdefault(p.get("repo", "?"), []).append(int(p.get("size") or 0))
    totals = [[repo, str(len(s)), human_size(sum(s))] for repo, s in sorted(by_repo.items())]
    totals.append(["total / 합계", str(len(pkgs)), human_size(sum(sum(s) for s in by_repo.values()))])
    out.append("<h3>Totals / 합계</h3>" + _table(["Repo", "Packages", "Size"], totals, num_cols=(1, 2)))
    return "".join(out) + "</section>"


def _inline_svg(svg_text: str) -> str:
    """dot's SVG as an element to inline: parsed (must be well-formed), prolog dropped."""
    ET.register_namespace("", "http://www.w3.org/2000/svg")
    ET.register_namespace("xlink", "http://www.w3.org/1999/xlink")
    root = ET.fromstring(svg_text[svg_text.index("<svg"):])
    for parent in root.iter():
        for child in list(parent):
            if child.tag.rsplit("}", 1)[-1] in ("script", "foreignObject", "a"):
                parent.remove(child)
    return ET.tostring(root, encoding="unicode")


def _site_section(top: Path, site: Any, flows: list[Flow]) -> str:
    from ..site.plan import SHEET_HEADINGS, diagram_dot, render_svg, sheet_rows
    try:
        diagram = f'<div class="diagram">{_inline_svg(render_svg(diagram_dot(site, flows)))}</div>'
    except EnvironmentProblem as exc:
        log.warning("Warning: report.html has no topology diagram: %s", exc.message)
        diagram = f'<p class="warn">No diagram: {e(exc.message)}</p>'
    facts = [["Site", f"{site.name} ({site.domain})"],
             ["VIP (L4)", f"{site.vip.address} :{site.vip.http_port} :{site.vip.socket_port}"],
             ["Admin networks", " ".join(site.admin_networks) or "none (zone-wide)"],
             ["Galera", f"{site.galera_cluster_name}, SST {site.galera.sst_method}, gcache {site.galera.gcache_size}"],
             ["Galera durability", "full: innodb_flush_log_at_trx_commit=1, a commit is on disk before it is "
              "acknowledged" if site.galera.durability == "full" else "relaxed: innodb_flush_log_at_trx_commit=2, "
              "faster commits; a power cut of every db node can lose about the last second of acknowledged "
              "commits"],
             ["RabbitMQ queue policy", site.rabbitmq.queue_policy],
             ["WorkCenter jar", f"{site.app.jar} (sha256 {site.jar_sha256})" if site.app.jar else "not bundled"]]
    return ("<section><h2>Site plan / 사이트 구성</h2>" + _table(["Item", "Value"], facts)
            + "<h3>Topology / 구성도</h3>" + diagram
            + "<h3>Firewall request sheet / 방화벽 신청서</h3>"
            + _sheet(SHEET_HEADINGS, sheet_rows(site, flows)) + "</section>")


def _sheet(headings: list[str], rows: list[list[str]]) -> str:
    """The firewall sheet laid out for reading and printing: one line per flow (the purpose may
    wrap), each heading in English over Korean, the same cells as firewall-sheet.csv."""
    heads = []
    for h in headings:
        en, _, ko = h.partition(" / ")
        heads.append(f"<th>{e(en)}<span class=\"ko\">{e(ko)}</span></th>")
    purpose = next((i for i, h in enumerate(headings) if h.startswith("Purpose")), -1)
    body = []
    for row in rows:
        cells = []
        for i, c in enumerate(row):
            cls = ' class="num"' if i == 0 else (' class="purpose"' if i == purpose else "")
            cells.append(f"<td{cls}>{e(c.replace(' -> ', ' → '))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return ('<div class="sheet-wrap"><table class="sheet"><thead><tr>' + "".join(heads) + "</tr></thead><tbody>"
            + "".join(body) + "</tbody></table></div>")


def _app_yml_section(top: Path, site: Any, flows: list[Flow]) -> str:
    """WorkCenter-app.yml as install.sh writes it on the first app node (secrets masked), rendered
    from the bundle's own template by the twin of the installer's renderer (appconfig.py)."""
    from ..site.appconfig import MASK, SITE_TEMPLATE, TemplateError, preview
    tmpl = top / "site" / SITE_TEMPLATE
    source = f"site/{SITE_TEMPLATE} (the site's override merged)" if tmpl.is_file() else "templates/WorkCenter-app.yml"
    if not tmpl.is_file():
        tmpl = top / "templates" / "WorkCenter-app.yml"
    node = site.holders("app-node")[0]
    try:
        text = preview(site, tmpl.read_text(encoding="utf-8"), flows)
    except (OSError, TemplateError) as exc:
        return (f'<section><h2>WorkCenter-app.yml</h2><p class="warn">Cannot render {e(source)}: '
                f"{e(exc)}</p></section>")
    return (f"<section><h2>WorkCenter-app.yml ({e(node.name)}) / 애플리케이션 설정</h2>"
            f"<p>What install.sh writes to <code>/opt/workcenter/WorkCenter-app.yml</code> on {e(node.name)} "
            f"({e(node.ip)}), from <code>{e(source)}</code>; the other app nodes differ only in the node "
            f"name of the first line. Passwords are shown as <code>{MASK}</code>.</p>"
            f"<pre>{e(text)}</pre></section>")


RUNBOOK_README = "README.md, section \"Operator's runbook: when the site fails\""
RUNBOOK = [
    ["A network partition", "./install.sh --status on each node: FAIL on the cut-off node, 'degraded but serving' "
     "on the majority. Repair the network; never --bootstrap the cut-off node; it rejoins by itself (IST)."],
    ["A frozen node", "Evicted after 5 s; rejoins by itself when it wakes. Not ok after a few minutes: "
     "./install.sh --yes on it."],
    ["A replaced disk", "./install.sh --yes on that node: a db node joins and receives a full copy (SST); an mq "
     "node rejoins with users, vhost and policy; an app node is re-installed."],
    ["A power cut", "On each db node galera_recovery; ./install.sh --yes --bootstrap on the most advanced node "
     "only, ./install.sh --yes on the others; then mq and app nodes; --status everywhere."],
]


def _runbook_section() -> str:
    """Day 2: the runbook's four disasters in one line each, pointing at the README's full text."""
    return ("<section id=\"runbook\"><h2>When the site fails / 장애 대응</h2>"
            f"<p>The operator's runbook, step by step with what the health table shows: wcbundle "
            f"{e(RUNBOOK_README)}.</p>" + _table(["Disaster", "Installer commands"], RUNBOOK) + "</section>")


def _no_site(problem: str) -> str:
    if problem:
        text = f'<p class="warn">site/site.env is not valid, so no plan is shown:</p><pre>{e(problem)}</pre>'
    else:
        text = ("<p>Built without --site: place a site.env in <code>site/</code> on the target "
                "(see site.example.yaml).</p>")
    return f"<section><h2>Site plan / 사이트 구성</h2>{text}</section>"


def _sbom_section(doc: dict | None) -> str:
    if doc is None:
        return '<section><h2>SBOM</h2><p class="warn">No sbom.spdx.json in this bundle.</p></section>'
    refs = {r.get("licenseId"): r.get("extractedText", "") for r in doc.get("hasExtractedLicensingInfos", [])}
    counts: dict[str, int] = {}
    for p in doc.get("packages", [])[1:]:
        shown = _shown(p.get("licenseDeclared", ""), refs)
        counts[shown] = counts.get(shown, 0) + 1
    rows = [[lic, str(n)] for lic, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    return ("<section><h2>SBOM / 소프트웨어 구성 명세</h2>"
            f"<p><code>sbom.spdx.json</code>: {e(doc.get('spdxVersion', '?'))}, "
            f"{len(doc.get('packages', [])) - 1} RPMs, namespace <code>{e(doc.get('documentNamespace', ''))}</code></p>"
            + "<p>SPDX expressions where the RPM License tag translates with certainty; otherwise the tag "
            "itself, recorded in the SBOM as a LicenseRef with its text.</p>"
            + _table(["License (declared)", "Packages"], rows, num_cols=(1,)) + "</section>")


def _load_site(top: Path) -> tuple[Any, list[Flow]]:
    flows = read_flows_tsv(top / "site" / "flows.tsv") if (top / "site" / "flows.tsv").is_file() else list(FLOWS)
    env_path = top / "site" / "site.env"
    if not env_path.is_file():
        return None, flows
    from ..site.model import parse_site_env, site_from_env
    return site_from_env(parse_site_env(env_path.read_text(encoding="utf-8"), str(env_path)), str(env_path),
                         warn=False), flows


def _update_section(bundle: dict) -> str:
    """An update (build --since): its base and the diff, the same one `wcbundle diff OLD NEW` prints."""
    base, upd = bundle.get("base"), bundle.get("update")
    if not isinstance(base, dict) or not isinstance(upd, dict):
        return ""
    diff = upd.get("diff") or {}
    rows = []
    for role, r in (diff.get("roles") or {}).items():
        for x in r.get("upgraded", []) + r.get("downgraded", []) + r.get("rebuilt", []):
            rows.append([role, "upgraded" if x in r.get("upgraded", []) else "changed",
                         f"{x['name']}.{x['arch']}", f"{x['from']} → {x['to']}", human_size(x["size"])])
        for kind, sign in (("added", "added"), ("removed", "removed")):
            for x in r.get(kind, []):
                rows.append([role, sign, x["nevra"], "", human_size(x["size"])])
    carried = upd.get("carried") or []
    return (f"<section id=\"update\"><h2>Update / 업데이트</h2>"
            f"<p>This is an <b>update</b> of <code>{e(base.get('bundle_id', '?'))}</code> (lock sha256 "
            f"<code>{e(str(base.get('lock_sha256', ''))[:16])}…</code>). It carries {len(carried)} package(s), "
            f"{e(human_size(int(upd.get('carried_bytes') or 0)))}: only the RPMs that bundle does not have. Keep "
            f"that bundle's repo on the hosts: the update's repo is added next to it.</p>"
            + (_table(["Role", "Change", "Package", "Version", "Size"], rows, (4,)) if rows
               else "<p>No package changed.</p>") + "</section>")


def render_report(bundle_top: Path) -> str:
    top = Path(bundle_top)
    bundle = _read_json(top / "bundle.json", "bundle.json")
    lock, build = bundle.get("lock") or {}, bundle.get("build") or {}
    pkgs = lock.get("packages", [])
    total = sum(int(p.get("size") or 0) for p in pkgs)
    licenses, sbom = _sbom_licenses(top)
    site_problem = ""
    try:
        site, flows = _load_site(top)
    except WcbundleError as exc:  # an edited site.env must not stop the report
        log.warning("Warning: report.html shows no site plan: %s", exc.render())
        site, flows, site_problem = None, list(FLOWS), exc.render()
    parts = [_escape_hatch(build), _secrets_alert(top), _header(top, lock, build, len(pkgs), total),
             _update_section(bundle), _verify(top, build),
             _signatures(lock, build), _commands(top, lock, site),
             _site_section(top, site, flows) if site is not None else _no_site(site_problem),
             _app_yml_section(top, site, flows) if site is not None else "",
             _runbook_section(),
             _packages(lock, licenses), _sbom_section(sbom)]
    title = f"{top.name}: wcbundle report"
    body = "\n".join(part for part in parts if part)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
            "img-src data:\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{e(title)}</title>"
            f"<style>{CSS}</style></head><body><header><h1>{e(title)}</h1>"
            f"<p>{e(lock.get('manifest', {}).get('name', ''))} for EL{e(lock.get('el', '?'))} "
            f"{e(lock.get('arch', '?'))}, built {e(build.get('time', '?'))}</p></header>"
            f"<main>{body}</main></body></html>\n")


def write_report(bundle_top: Path, dest: Path) -> None:
    """Write report.html for the bundle tree at bundle_top to dest (atomically)."""
    atomic_write(Path(dest), render_report(Path(bundle_top)))
