"""App-node check for the cluster lab, run inside an app node's namespace (issue 18).

  python3 appcheck.py WorkCenter-app.yml --bundle B --node NAME --url http://IP:8080/ --jar JAR

1. file: the installed WorkCenter-app.yml is byte for byte what bundler.site.appconfig (the builder's
   twin of the installer's renderer, which `wcbundle plan` and report.html show) renders for NAME
   from the bundle's site.env, secrets.env and flows.tsv; it parses (PyYAML) and holds every key
   path of the manual's example with the site's values: the JDBC URL lists every db node in site
   order and no arbitrator and ends ?autoReconnect=true; addresses = every mq node; members =
   every app node; webUrl, tokenUrl (/oauth/token) and server.url use the VIP and its port.
2. logins: the FIRST JDBC host accepts the app db user (real mariadb client over TCP), EVERY
   RabbitMQ address the app mq user (AMQP, amqp_confirm.py).
3. stand-in: the unit's java -jar (scripts/lab/standin) answers on --url, naming this node as
   itself and the other app node(s) as its peers, and reads every key as PyYAML does.
4. refusal: the same jar, run on copies of the file with cluster.enable false, without the other
   node, or without this node, exits 3 without answering (so check 3 can fail).
Passwords are handed over by environment only; nothing secret is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from amqp_confirm import AmqpError, Connection  # noqa: E402

from bundler.site.appconfig import MANUAL_KEYS, SITE_TEMPLATE, get_path, node_values, render_template  # noqa: E402
from bundler.site.flows import read_flows_tsv  # noqa: E402
from bundler.site.model import parse_site_env, site_from_env  # noqa: E402

JDBC = re.compile(r"^jdbc:mariadb:sequential://([^/?]+)/([A-Za-z0-9_]+)\?autoReconnect=true$")


def flatten(doc: dict, pre: str = "") -> dict:
    out = {}
    for k, v in doc.items():
        if isinstance(v, dict):
            out.update(flatten(v, pre + k + "."))
        else:
            out[pre + k] = v
    return out


def as_java(v):
    """How the stand-in reports a value: every scalar as a string, lists of strings."""
    if isinstance(v, list):
        return [as_java(x) for x in v]
    if isinstance(v, bool):
        return "true" if v else "false"
    return "" if v is None else str(v)


def file_checks(text: str, bundle: Path, node: str, result: dict) -> dict:
    env = parse_site_env((bundle / "site/site.env").read_text(encoding="utf-8"))
    secrets = parse_site_env((bundle / "site/secrets.env").read_text(encoding="utf-8"), "secrets.env")
    site = site_from_env(env, warn=False)
    tmpl = bundle / "site" / SITE_TEMPLATE
    if not tmpl.is_file():
        tmpl = bundle / "templates/WorkCenter-app.yml"
    twin = render_template(tmpl.read_text(encoding="utf-8"),
                           node_values(site, node, secrets, read_flows_tsv(bundle / "site/flows.tsv")))
    result["file_matches_builder_render"] = text == twin
    doc = yaml.safe_load(text)
    present = [k for k in MANUAL_KEYS if get_path(doc, k)[0]]
    result["manual_keys"] = f"{len(present)}/{len(MANUAL_KEYS)}"
    ports = {f.key: f.port for f in read_flows_tsv(bundle / "site/flows.tsv")}
    vip = f"http://{site.vip.address}:{site.vip.http_port}"
    want = {
        "spring.datasource.url": "jdbc:mariadb:sequential://" + ",".join(
            f"{n.ip}:{ports['mysql']}" for n in site.holders("db-node")) + f"/{site.database.name}?autoReconnect=true",
        "spring.rabbitmq.addresses": ", ".join(f"{n.ip}:{ports['amqp']}" for n in site.holders("mq-node")),
        "workcenter.cluster.enable": True,
        "workcenter.cluster.members": [n.ip for n in site.holders("app-node")],
        "workcenter.domain.webUrl": vip, "workcenter.swagger.tokenUrl": vip + "/oauth/token", "server.url": vip,
        "workcenter.domain.name": env["WCB_APP_DOMAIN_NAME"],
        "workcenter.domain.description": env["WCB_APP_DOMAIN_DESCRIPTION"],
        "workcenter.swagger.title": env["WCB_APP_SWAGGER_TITLE"],
        "spring.datasource.hikari.connection-timeout": 5000,
    }
    wrong = [k for k, v in want.items() if get_path(doc, k)[1] != v]
    wrong += [f"arbitrator {n.ip}" for n in site.holders("arbitrator") if n.ip in text]
    result["site_values_wrong"] = wrong
    result["file_ok"] = bool(result["file_matches_builder_render"] and len(present) == len(MANUAL_KEYS)
                             and not wrong)
    return doc


def login_checks(doc: dict, result: dict) -> None:
    ds, mq = doc["spring"]["datasource"], doc["spring"]["rabbitmq"]
    m = JDBC.match(ds["url"])
    result["jdbc_url_ok"] = bool(m)
    if m:
        hosts = m.group(1).split(",")
        host, _, port = hosts[0].rpartition(":")
        env = dict(os.environ, MYSQL_PWD=str(ds["password"]))
        proc = subprocess.run(["mariadb", "--no-defaults", "--connect-timeout=5", "-h", host, "-P", port,
                               "-u", str(ds["username"]), "-N", "-B", m.group(2), "-e", "SELECT 1"],
                              env=env, capture_output=True, text=True, timeout=30)
        result["jdbc_hosts"] = hosts
        result["jdbc_first_host"] = hosts[0]
        result["jdbc_login"] = "ok" if proc.returncode == 0 and proc.stdout.strip() == "1" else \
            f"refused: {proc.stderr.strip()[:200]}"
    addrs = [a.strip() for a in str(mq["addresses"]).split(",") if a.strip()]
    result["mq_addresses"] = {}
    for addr in addrs:
        h, _, p = addr.rpartition(":")
        try:
            Connection(h, int(p), str(mq["username"]), str(mq["password"]), str(mq.get("virtual-host", "/"))).close()
            result["mq_addresses"][addr] = "ok"
        except (OSError, AmqpError) as e:
            result["mq_addresses"][addr] = f"refused: {e}"
    result["logins_ok"] = (result.get("jdbc_login") == "ok" and bool(addrs)
                           and all(v == "ok" for v in result["mq_addresses"].values()))


def standin_checks(doc: dict, url: str, node_ip: str, result: dict) -> None:
    answer = None
    for _ in range(30):  # bounded: 30 tries, at most ~5 s each
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                answer = json.loads(r.read().decode("utf-8"))
            break
        except (OSError, ValueError):
            time.sleep(1)
    if answer is None:
        result["standin"] = "no answer"
        result["standin_ok"] = False
        return
    members = doc["workcenter"]["cluster"]["members"]
    others = [ip for ip in members if ip != node_ip]
    ours = {k: as_java(v) for k, v in flatten(doc).items() if "password" not in k.lower()}
    theirs = {k: v for k, v in answer.get("config", {}).items() if "password" not in k.lower()}
    result["standin_self"], result["standin_peers"] = answer.get("self"), answer.get("peers")
    result["standin_reads_like_pyyaml"] = ours == theirs
    if ours != theirs:
        result["standin_differs"] = sorted(k for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k))
    result["standin_ok"] = bool(answer.get("self") == [node_ip] and answer.get("peers") == others and others
                                and ours == theirs)


def refusal_checks(text: str, jar: str, node_ip: str, result: dict) -> None:
    masked = re.sub(r"(password: ).*", r"\1'********'", text)  # the copies hold no secret
    masked = re.sub(r"(\n  port: ).*", r"\1'18080'", masked)
    others = [ip for ip in yaml.safe_load(text)["workcenter"]["cluster"]["members"] if ip != node_ip]
    cases = {"enable_false": masked.replace("    enable: true\n", "    enable: false\n"),
             "no_other_node": "".join(ln for ln in masked.splitlines(keepends=True)
                                      if ln not in [f"      - '{ip}'\n" for ip in others]),
             "no_this_node": masked.replace(f"      - '{node_ip}'\n", "")}
    result["refusals"] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, body in cases.items():
            path = Path(tmp) / f"{name}.yml"
            path.write_text(body, encoding="utf-8")
            try:
                proc = subprocess.run(["java", "-jar", jar, f"--spring.config.additional-location=file:{path}"],
                                      capture_output=True, text=True, timeout=30)
                refused = proc.returncode == 3 and "not starting" in proc.stderr
                result["refusals"][name] = "refused" if refused else f"exit {proc.returncode}"
            except subprocess.TimeoutExpired:
                result["refusals"][name] = "started (answered instead of refusing)"
    result["refusals_ok"] = all(v == "refused" for v in result["refusals"].values())


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("yml")
    ap.add_argument("--bundle", required=True, type=Path)
    ap.add_argument("--node", required=True)
    ap.add_argument("--url", required=True)
    ap.add_argument("--jar", required=True)
    a = ap.parse_args(argv)
    text = Path(a.yml).read_text(encoding="utf-8")
    result: dict = {}
    doc = file_checks(text, a.bundle, a.node, result)
    node_ip = a.url.split("//", 1)[1].split(":", 1)[0]
    login_checks(doc, result)
    standin_checks(doc, a.url, node_ip, result)
    refusal_checks(text, a.jar, node_ip, result)
    result["ok"] = all(result[k] for k in ("file_ok", "logins_ok", "standin_ok", "refusals_ok"))
    print(json.dumps(result, sort_keys=True, ensure_ascii=True))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
