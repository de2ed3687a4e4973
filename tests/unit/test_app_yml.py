"""WorkCenter-app.yml (issue 18): the installer's render (bash) and the builder's preview (Python)
of the same template, compared byte for byte; every key of the manual's example with the site's values;
the site's override file."""

from __future__ import annotations

import html as html_mod
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from bundler.core.errors import SiteError
from bundler.core.paths import INSTALLER
from bundler.site.appconfig import (
    MANUAL_KEYS,
    MASK,
    SITE_TEMPLATE,
    TEMPLATE,
    get_path,
    node_values,
    preview,
    render_template,
)
from bundler.site.flows import write_flows_tsv
from bundler.site.model import load_site, parse_site_env, write_site_files

# 3 db nodes + arbitrator would be 4 voters: 3 db nodes and no arbitrator, plus a second site below
SITE = """\
name: t1
domain: t1.local
vip:
  address: 10.0.0.100
  http-port: 80
nodes:
  - {name: db2, ip: 10.0.0.12, roles: [db-node]}
  - {name: app1, ip: 10.0.0.1, roles: [app-node]}
  - {name: mq1, ip: 10.0.0.21, roles: [mq-node]}
  - {name: db1, ip: 10.0.0.11, roles: [db-node]}
  - {name: app2, ip: 10.0.0.2, roles: [app-node, mq-node]}
  - {name: mq3, ip: 10.0.0.23, roles: [mq-node]}
  - {name: arb, ip: 10.0.0.31, roles: [arbitrator]}
database:
  name: rpa2db
app:
  domain:
    name: acme.co.kr
    description: "운영 도메인: 'prod' #1 - key: value"
    supervisor: ops.team+wc@acme.co.kr
  swagger:
    title: 'ACME "워크센터" API: v2 # 문서'
    description: "- [not a list] {not: a map} & *not_an_alias !tag %"
    base-package: kr.co.acme.workcenter.service
    license: "Apache-2.0 (사내: 'internal')"
    license-url: "https://acme.co.kr/license?lang=ko&v=2#section-1"
"""
DB_IN_ORDER = "10.0.0.12:3306,10.0.0.11:3306"  # site order: db2 is listed first


def make_bundle(tmp_path: Path, site_text: str = SITE, extra: dict[str, str] | None = None):
    """A bundle top as install.sh sees it: the installer, site/site.env, secrets.env, flows.tsv."""
    sdir = tmp_path / "src"
    sdir.mkdir()
    (sdir / "site.yaml").write_text(site_text, encoding="utf-8")
    for name, text in (extra or {}).items():
        (sdir / name).write_text(text, encoding="utf-8")
    site = load_site(sdir / "site.yaml")
    top = tmp_path / "bundle"
    shutil.copytree(INSTALLER, top, symlinks=False)
    write_site_files(site, top / "site", top)
    write_flows_tsv(top / "site" / "flows.tsv")
    return site, top


def bash_render(top: Path, node: str) -> subprocess.CompletedProcess:
    """install.sh's own code path: load site.env + secrets.env, wcb_app_node_vars, wcb_render."""
    script = r'''
set -euo pipefail
WCB_BUNDLE="$1"
for f in common env site_schema site render; do source "$WCB_BUNDLE/lib/$f.sh"; done
source "$WCB_BUNDLE/roles/app-node.sh"
wcb_site_load "$WCB_BUNDLE"
WCB_NODE="$2"
WCB_NODE_IP="$(wcb_node_field "$(wcb_node_index "$2")" IP)"
wcb_app_node_vars
wcb_render "$(wcb_app_yml_template)"
'''
    return subprocess.run(["bash", "-c", script, "render", str(top), node], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"}, timeout=60)


def secrets_of(top: Path) -> dict[str, str]:
    return parse_site_env((top / "site" / "secrets.env").read_text(), "secrets.env")


def test_installer_render_and_builder_preview_are_byte_identical(tmp_path):
    site, top = make_bundle(tmp_path)
    for node in ("app1", "app2"):
        proc = bash_render(top, node)
        assert proc.returncode == 0, proc.stderr
        twin = render_template(TEMPLATE.read_text(), node_values(site, node, secrets_of(top)))
        assert proc.stdout == twin
        assert f"node {node}:" in proc.stdout


def test_rendered_file_holds_every_manual_key_with_the_sites_values(tmp_path):
    site, top = make_bundle(tmp_path)
    proc = bash_render(top, "app2")
    assert proc.returncode == 0, proc.stderr
    doc = yaml.safe_load(proc.stdout)
    for key in MANUAL_KEYS:
        assert get_path(doc, key)[0], key
    sec = secrets_of(top)
    vip = "http://10.0.0.100:80"
    want = {
        "server.url": vip,
        "spring.datasource.url": f"jdbc:mariadb:sequential://{DB_IN_ORDER}/rpa2db?autoReconnect=true",
        "spring.datasource.username": "workcenter",
        "spring.datasource.password": sec["WCB_DB_APP_PASSWORD"],
        "spring.datasource.hikari.connection-timeout": 5000,
        "spring.rabbitmq.username": "workcenter",
        "spring.rabbitmq.password": sec["WCB_MQ_APP_PASSWORD"],
        "spring.rabbitmq.addresses": "10.0.0.21:5672, 10.0.0.2:5672, 10.0.0.23:5672",
        "workcenter.cluster.enable": True,
        "workcenter.cluster.members": ["10.0.0.1", "10.0.0.2"],
        "workcenter.domain.name": "acme.co.kr",
        "workcenter.domain.description": "운영 도메인: 'prod' #1 - key: value",
        "workcenter.domain.supervisor": "ops.team+wc@acme.co.kr",
        "workcenter.domain.webUrl": vip,
        "workcenter.swagger.title": 'ACME "워크센터" API: v2 # 문서',
        "workcenter.swagger.description": "- [not a list] {not: a map} & *not_an_alias !tag %",
        "workcenter.swagger.basePackage": "kr.co.acme.workcenter.service",
        "workcenter.swagger.license": "Apache-2.0 (사내: 'internal')",
        "workcenter.swagger.licenseUrl": "https://acme.co.kr/license?lang=ko&v=2#section-1",
        "workcenter.swagger.termsOfServiceUrl": "",
        "workcenter.swagger.tokenUrl": vip + "/oauth/token",
    }
    assert set(want) == set(MANUAL_KEYS)
    assert {k: get_path(doc, k)[1] for k in MANUAL_KEYS} == want
    # keys beyond the manual: only the two the README explains
    assert doc["server"]["port"] == "8080" and doc["spring"]["rabbitmq"]["virtual-host"] == "/"
    flat = []

    def walk(d, pre=""):
        for k, v in d.items():
            (walk(v, pre + k + ".") if isinstance(v, dict) else flat.append(pre + k))
    walk(doc)
    assert sorted(flat) == sorted([*MANUAL_KEYS, "server.port", "spring.rabbitmq.virtual-host"])
    assert "10.0.0.31" not in proc.stdout  # never the arbitrator


def test_preview_masks_secrets_and_names_the_first_app_node(tmp_path):
    site, top = make_bundle(tmp_path)
    text = preview(site)
    doc = yaml.safe_load(text)
    assert doc["spring"]["datasource"]["password"] == MASK == doc["spring"]["rabbitmq"]["password"]
    for value in secrets_of(top).values():
        assert value not in text
    assert "node app1:" in text


def test_a_control_character_edited_into_site_env_stops_the_render(tmp_path):
    _, top = make_bundle(tmp_path)
    env = top / "site" / "site.env"
    text = env.read_text()
    env.write_text(text.replace("WCB_APP_SWAGGER_TERMS_URL=\n", 'WCB_APP_SWAGGER_TERMS_URL="a\tb"\n'))
    proc = bash_render(top, "app1")
    assert proc.returncode == 4
    assert "{{WCB_APP_SWAGGER_TERMS_URL}} holds a control character" in proc.stderr + proc.stdout


TOP_LEVEL = """\
# move domain and swagger to the top level, add a key the manual does not name
workcenter:
  domain: null
  swagger: null
domain:
  name: '{{WCB_APP_DOMAIN_NAME}}'
  description: '{{WCB_APP_DOMAIN_DESCRIPTION}}'
  supervisor: '{{WCB_APP_DOMAIN_SUPERVISOR}}'
  webUrl: 'http://{{WCB_VIP}}:{{WCB_VIP_HTTP_PORT}}'
swagger:
  title: '{{WCB_APP_SWAGGER_TITLE}}'
  description: '{{WCB_APP_SWAGGER_DESCRIPTION}}'
  basePackage: '{{WCB_APP_SWAGGER_BASE_PACKAGE}}'
  license: '{{WCB_APP_SWAGGER_LICENSE}}'
  licenseUrl: '{{WCB_APP_SWAGGER_LICENSE_URL}}'
  termsOfServiceUrl: '{{WCB_APP_SWAGGER_TERMS_URL}}'
  tokenUrl: 'http://{{WCB_VIP}}:{{WCB_VIP_HTTP_PORT}}/oauth/token'
server:
  port: null
logging:
  file:
    name: "/var/log/workcenter/it's: #1.log"
  level: {root: INFO, com.aworks: DEBUG}
"""


def test_override_moves_blocks_and_both_renders_still_agree(tmp_path):
    site, top = make_bundle(tmp_path, SITE + "  config-override: app-override.yml\n", {"app-override.yml": TOP_LEVEL})
    assert (top / "site" / SITE_TEMPLATE).is_file()
    proc = bash_render(top, "app2")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == render_template((top / "site" / SITE_TEMPLATE).read_text(),
                                          node_values(site, "app2", secrets_of(top)))
    assert preview(site, site.app_yml_template, node_name="app2").replace(MASK, "") == \
        proc.stdout.replace(secrets_of(top)["WCB_DB_APP_PASSWORD"], "").replace(
            secrets_of(top)["WCB_MQ_APP_PASSWORD"], "")
    doc = yaml.safe_load(proc.stdout)
    assert "domain" not in doc["workcenter"] and "swagger" not in doc["workcenter"]
    assert doc["domain"]["description"] == "운영 도메인: 'prod' #1 - key: value"
    assert doc["swagger"]["tokenUrl"] == "http://10.0.0.100:80/oauth/token"
    assert doc["workcenter"]["cluster"] == {"enable": True, "members": ["10.0.0.1", "10.0.0.2"]}
    assert "port" not in doc["server"] and doc["server"]["url"] == "http://10.0.0.100:80"
    assert doc["logging"] == {"file": {"name": "/var/log/workcenter/it's: #1.log"},
                              "level": {"root": "INFO", "com.aworks": "DEBUG"}}


@pytest.mark.parametrize("override,words", [
    ("spring:\n  datasource:\n    url: 'jdbc:mariadb://10.9.9.9/x'\n", "changes spring.datasource.url"),
    ("workcenter:\n  cluster:\n    enable: false\n", "changes workcenter.cluster.enable"),
    ("workcenter:\n  cluster:\n    members: ['10.0.0.1']\n", "changes workcenter.cluster.members"),
    ("server:\n  url: null\n", "removes server.url"),
    ("domain:\n  name: '{{WCB_APP_DOMAIN_NAME}}'\n", "in two places"),
    ("extra:\n  a: '{{WCB_DB_ROOT_PASSWORD_X}}'\n", "unknown template variable"),
    ("extra:\n  a: '{{TPL_GCOMM}}'\n", "is not set"),
    ("extra: 2024-01-01\n", "Quote it"),
    ("'bad key': 1\n", "invalid key"),
    ("a: 1\na: 2\n", "duplicate key"),
    ("- just\n- a list\n", "must be a mapping"),
    ("a: [unclosed\n", "malformed YAML"),
])
def test_override_may_not_lose_or_change_a_manual_key(tmp_path, override, words):
    with pytest.raises(SiteError) as exc:
        make_bundle(tmp_path, SITE + "  config-override: o.yml\n", {"o.yml": override})
    text = exc.value.render()
    assert words in text, text
    assert "o.yml" in text and exc.value.hint or "malformed" in text


def test_missing_override_file_names_the_site_key(tmp_path):
    with pytest.raises(SiteError) as exc:
        make_bundle(tmp_path, SITE + "  config-override: nowhere.yml\n")
    assert exc.value.key == "app.config-override" and "does not exist" in exc.value.render()


def test_no_override_means_the_stock_template(tmp_path):
    _, top = make_bundle(tmp_path)
    assert not (top / "site" / SITE_TEMPLATE).exists()


def test_plan_and_report_show_the_installers_file_with_secrets_masked(tmp_path):
    from bundler.assemble.report import _app_yml_section, _load_site
    from bundler.site.plan import write_plan
    site, top = make_bundle(tmp_path, SITE + "  config-override: o.yml\n", {"o.yml": TOP_LEVEL})
    written = write_plan(site, tmp_path / "plan")
    planned = (tmp_path / "plan" / "WorkCenter-app.app1.yml").read_text()
    assert tmp_path / "plan" / "WorkCenter-app.app1.yml" in written
    installed = bash_render(top, "app1").stdout
    sec = secrets_of(top)
    assert planned == installed.replace(sec["WCB_DB_APP_PASSWORD"], MASK).replace(sec["WCB_MQ_APP_PASSWORD"], MASK)
    # report.html: from the bundle's own files (site.env, flows.tsv, the site's template)
    rsite, flows = _load_site(top)
    html = _app_yml_section(top, rsite, flows)
    assert "WorkCenter-app.yml (app1)" in html and f"site/{SITE_TEMPLATE}" in html
    assert f"<pre>{html_mod.escape(planned)}</pre>" in html  # the very text `wcbundle plan` wrote
    for value in sec.values():
        assert value not in html
    assert planned.count(MASK) == 2  # the db and mq app passwords
