"""App-node check for the cluster lab, run inside an app node's namespace: read the rendered
WorkCenter-app.yml, log in to its FIRST JDBC host as the app db user (real mariadb client over TCP)
and to EVERY RabbitMQ address as the app mq user (AMQP, scripts/lab/amqp_confirm.py).
Passwords are taken from the yml and handed over by environment only; nothing secret is printed.

  python3 appcheck.py /path/to/WorkCenter-app.yml
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from amqp_confirm import AmqpError, Connection  # noqa: E402

JDBC = re.compile(r"^jdbc:mariadb:sequential://([^/?]+)/([A-Za-z0-9_]+)")


def main(argv: list[str]) -> int:
    conf = yaml.safe_load(Path(argv[0]).read_text(encoding="utf-8"))
    ds = conf["spring"]["datasource"]
    mq = conf["spring"]["rabbitmq"]
    m = JDBC.match(ds["url"])
    result: dict = {"jdbc_url_ok": bool(m)}
    if m:
        hosts = m.group(1).split(",")
        first = hosts[0]
        host, _, port = first.rpartition(":")
        env = dict(os.environ, MYSQL_PWD=str(ds["password"]))
        proc = subprocess.run(["mariadb", "--no-defaults", "--connect-timeout=5", "-h", host, "-P", port,
                               "-u", str(ds["username"]), "-N", "-B", m.group(2), "-e", "SELECT 1"],
                              env=env, capture_output=True, text=True, timeout=30)
        result["jdbc_hosts"] = hosts
        result["jdbc_first_host"] = first
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
    result["ok"] = (result.get("jdbc_login") == "ok" and bool(addrs)
                    and all(v == "ok" for v in result["mq_addresses"].values()))
    print(json.dumps(result, sort_keys=True))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
