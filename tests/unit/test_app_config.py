"""WorkCenter-app.yml (issue 18): the site's domain/swagger fields, their validation and site.env carriage."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bundler.core.errors import SiteError
from bundler.core.paths import INSTALLER, MANIFESTS
from bundler.site.model import (
    APP_FIELDS,
    app_field_value,
    load_site,
    parse_site_env,
    render_site_env,
    site_from_env,
)

BASE = """\
name: t1
domain: t1.local
vip:
  address: 10.0.0.100
  http-port: 80
nodes:
  - {name: app1, ip: 10.0.0.1, roles: [app-node, mq-node]}
  - {name: app2, ip: 10.0.0.2, roles: [app-node, mq-node]}
  - {name: mq3, ip: 10.0.0.3, roles: [mq-node]}
  - {name: db1, ip: 10.0.0.11, roles: [db-node]}
  - {name: db2, ip: 10.0.0.12, roles: [db-node]}
  - {name: arb, ip: 10.0.0.21, roles: [arbitrator]}
"""

# Korean, quotes (one kind per value), colons, '#', and characters YAML treats specially
HOSTILE = BASE + """\
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
    terms-of-service-url: http://10.0.0.100/terms
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "site.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def values(site) -> dict[str, str]:
    return {f.key: app_field_value(site, f) for f in APP_FIELDS}


def test_defaults_are_the_manuals_values(tmp_path):
    site = load_site(write(tmp_path, BASE))
    assert values(site) == {
        "app.domain.name": "aworks.com",
        "app.domain.description": "This is the default domain",
        "app.domain.supervisor": "super@aworks.com",
        "app.swagger.title": "A.Works WorkCenter APP",
        "app.swagger.description": "Cloud RPA A.Works WorkCenter APP",
        "app.swagger.base-package": "com.aworks.workcenter.service",
        "app.swagger.license": "",
        "app.swagger.license-url": "",
        "app.swagger.terms-of-service-url": "",
    }


def test_example_site_states_the_manuals_values(tmp_path):
    site = load_site(MANIFESTS / "site.example.yaml")
    assert values(site) == {f.key: f.default for f in APP_FIELDS}


def test_empty_keys_as_the_manual_writes_them_read_as_empty(tmp_path):
    site = load_site(write(tmp_path, BASE + "app:\n  swagger:\n    license:\n    license-url:\n"))
    assert app_field_value(site, APP_FIELDS[6]) == "" and app_field_value(site, APP_FIELDS[7]) == ""


def test_hostile_text_survives_site_env_in_python_and_in_the_installers_reader(tmp_path):
    site = load_site(write(tmp_path, HOSTILE))
    want = values(site)
    assert want["app.domain.description"] == "운영 도메인: 'prod' #1 - key: value"
    env_text = render_site_env(site)
    # Python twin
    back = site_from_env(parse_site_env(env_text), warn=False)
    assert values(back) == want
    # the installer's own reader (lib/env.sh, bash, no eval)
    env_file = tmp_path / "site.env"
    env_file.write_text(env_text, encoding="utf-8")
    out = subprocess.run(["bash", "-c", 'set -euo pipefail; source "$1/lib/env.sh"; wcb_env_parse "$2"',
                          "x", str(INSTALLER), str(env_file)],
                         capture_output=True, text=True, check=True, env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"}).stdout
    parsed = dict(line.split("\t", 1) for line in out.splitlines())
    assert {f.key: parsed[f.env] for f in APP_FIELDS} == want


@pytest.mark.parametrize("key,value,words", [
    ("domain.name", "aworks com", "invalid name"),
    ("domain.name", "x" * 64, "64 characters"),
    ("domain.supervisor", "super-at-aworks.com", "invalid email"),
    ("domain.supervisor", "'a@b@c.com'", "invalid email"),
    ("domain.description", "'both '' and \" quotes'", "both ' and \""),
    ("domain.description", "'costs $5'", "contains '$'"),
    ("domain.description", "'back\\slash'", "contains '\\\\'"),
    ("domain.description", '"two\\nlines"', "U+000A"),
    ("domain.description", '"bidi \\u202e override"', "U+202E"),
    ("domain.description", '" leading blank"', "starts or ends with a blank"),
    ("swagger.title", '""', "must not be empty"),
    ("swagger.title", "가" * 201, "201 characters"),
    ("swagger.base-package", "com.aworks.1service", "invalid java-package"),
    ("swagger.license-url", "ftp://acme/x", "invalid url"),
    ("swagger.terms-of-service-url", "'http://acme/it''s'", "invalid url"),
])
def test_bad_values_name_the_key_and_line(tmp_path, key, value, words):
    block, leaf = key.split(".")
    path = write(tmp_path, BASE + f"app:\n  {block}:\n    {leaf}: {value}\n")
    with pytest.raises(SiteError) as exc:
        load_site(path)
    text = exc.value.render()
    assert exc.value.key == f"app.{key}", text
    assert exc.value.line == 15, text
    assert words in text, text
    assert exc.value.hint


def test_edited_site_env_value_is_revalidated_under_its_env_key(tmp_path):
    site = load_site(write(tmp_path, BASE))
    env = parse_site_env(render_site_env(site))
    env["WCB_APP_DOMAIN_SUPERVISOR"] = "nobody"
    with pytest.raises(SiteError) as exc:
        site_from_env(env, warn=False)
    assert exc.value.key == "WCB_APP_DOMAIN_SUPERVISOR"
    del env["WCB_APP_DOMAIN_SUPERVISOR"]
    with pytest.raises(SiteError, match="missing key WCB_APP_DOMAIN_SUPERVISOR"):
        site_from_env(env, warn=False)
