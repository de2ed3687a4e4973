"""The cluster lab's own tools, without root or a network: the service seam's direct backend with
a real process, the lab bundle passing install.sh's real integrity check, the AMQP encoder and the
JSON report. The lab itself (scripts/lab/run.sh, `make lab`) needs root and runs real clusters."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAB = REPO / "scripts" / "lab"
SERVICE = REPO / "installer_stub" / "lib" / "service.sh"
sys.path.insert(0, str(LAB))

import amqp_confirm  # noqa: E402
import fwprobe  # noqa: E402
import gaps  # noqa: E402


def seam(root: Path, *script: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run bash lines with lib/service.sh sourced, the direct backend and WCB_ROOT=root."""
    body = "set -euo pipefail\nsource " + str(SERVICE) + "\n" + "\n".join(script)
    env = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "WCB_ROOT": str(root), "WCB_SERVICE_BACKEND": "direct",
           "WCB_SERVICE_TIMEOUT": "10"}
    return subprocess.run(["bash", "-c", body], env=env, capture_output=True, text=True, check=check, timeout=60)


def write_unit(root: Path, exec_start: str) -> None:
    unit = root / "etc/systemd/system/workcenter.service"
    unit.parent.mkdir(parents=True, exist_ok=True)
    unit.write_text(f"[Service]\nUser=no-such-user-wcb\nWorkingDirectory=/opt/workcenter\nExecStart={exec_start}\n")


def test_direct_backend_starts_checks_and_stops_a_real_process(tmp_path):
    (tmp_path / "opt/workcenter").mkdir(parents=True)
    (tmp_path / "opt/workcenter/app.yml").write_text("x: 1\n")
    app = tmp_path / "opt/workcenter/app.sh"
    app.write_text('#!/bin/sh\nf="${1#*=file:}"\ntest -f "$f" || exit 3\nexec sleep 300\n')
    app.chmod(0o755)
    # the unit names EL paths; the seam roots them: program and config exist only under WCB_ROOT
    write_unit(tmp_path, "/opt/workcenter/app.sh --spring.config.additional-location=file:/opt/workcenter/app.yml")
    seam(tmp_path, "wcb_service_start workcenter", "wcb_service_is_active workcenter")
    pid = int((tmp_path / "run/wcbundle/workcenter.pid").read_text())
    assert Path(f"/proc/{pid}").exists()
    assert Path(f"/proc/{pid}/cwd").resolve() == (tmp_path / "opt/workcenter").resolve()  # WorkingDirectory, rooted
    assert (tmp_path / "var/log/wcbundle/workcenter.out").exists()
    seam(tmp_path, "wcb_service_stop workcenter")
    assert seam(tmp_path, "wcb_service_is_active workcenter", check=False).returncode != 0
    assert not (tmp_path / "run/wcbundle/workcenter.pid").exists()


def test_direct_backend_reports_a_daemon_that_dies_at_start(tmp_path):
    write_unit(tmp_path, "/bin/false")
    r = seam(tmp_path, "wcb_service_start workcenter", check=False)
    assert r.returncode != 0 and "WorkingDirectory" in r.stderr
    (tmp_path / "opt/workcenter").mkdir(parents=True)
    r = seam(tmp_path, "wcb_service_start workcenter", check=False)
    assert r.returncode != 0
    assert "exited at start-up" in r.stderr


def test_unknown_unit_and_backend_are_refused(tmp_path):
    r = seam(tmp_path, "wcb_service_start httpd", check=False)
    assert r.returncode != 0 and "unknown service unit: httpd" in r.stderr
    r = subprocess.run(["bash", "-c", f"source {SERVICE}; WCB_SERVICE_BACKEND=upstart wcb_service_backend"],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "expected systemd, direct" in r.stderr


def test_garb_refuses_a_remove_line(tmp_path):
    conf = tmp_path / "etc/sysconfig/garb"
    conf.parent.mkdir(parents=True)
    conf.write_text('# REMOVE this line\nGALERA_NODES="198.18.0.41:4567"\nGALERA_GROUP="g"\n')
    r = seam(tmp_path, "wcb_service_start garb", check=False)
    assert r.returncode != 0 and "REMOVE" in r.stderr
    assert not (tmp_path / "run/wcbundle/garb.pid").exists()


@pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="the lab bundle reads Debian package versions")
def test_lab_bundle_passes_install_sh_integrity_check(tmp_path):
    jar = tmp_path / "WorkCenter.jar"
    jar.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    bundle = tmp_path / "bundle"
    subprocess.run([sys.executable, "-m", "scripts.lab.make_bundle", str(LAB / "site-3db.yaml"), str(jar), str(bundle)],
                   cwd=REPO, check=True, capture_output=True, text=True)
    assert (bundle / "site/secrets.env").stat().st_mode & 0o777 == 0o600
    assert (bundle / "lib/service.sh").is_file()
    r = subprocess.run([str(bundle / "install.sh"), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    env = dict(line.split("=", 1) for line in (bundle / "site/site.env").read_text().splitlines()
               if line and not line.startswith("#"))
    ips = [v for k, v in env.items() if k.endswith("_IP")]
    assert ips and all(ip.startswith("198.18.0.") for ip in ips)


def test_lab_update_bundle_is_an_update_of_the_lab_bundle_with_its_site_files(tmp_path):
    jar = tmp_path / "WorkCenter.jar"
    jar.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    old, new = tmp_path / "bundle", tmp_path / "update"
    for args in ([str(old)], [str(new), "--since", str(old)]):
        subprocess.run([sys.executable, "-m", "scripts.lab.make_bundle", str(LAB / "site-3db.yaml"), str(jar), *args],
                       cwd=REPO, check=True, capture_output=True, text=True)
    env_of = {b: dict(ln.split("=", 1) for ln in (b / "bundle.env").read_text().splitlines()
                      if ln and not ln.startswith("#")) for b in (old, new)}
    o, n = env_of[old], env_of[new]
    assert o["WCB_BUNDLE_KIND"] == "full" and n["WCB_BUNDLE_KIND"] == "update"
    assert n["WCB_BASE_BUNDLE_ID"] == o["WCB_BUNDLE_ID"] != n["WCB_BUNDLE_ID"]
    assert len(o["WCB_LOCK_SHA256"]) == 64 and n["WCB_BASE_LOCK_SHA256"] == o["WCB_LOCK_SHA256"]
    # the running site's secrets and site.env, not fresh ones: the gates log in with them
    for f in ("secrets.env", "site.env", "flows.tsv"):
        assert (new / "site" / f).read_bytes() == (old / "site" / f).read_bytes()
    assert (new / "site/secrets.env").stat().st_mode & 0o777 == 0o600
    r = subprocess.run([str(new / "install.sh"), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([sys.executable, "-m", "scripts.lab.make_bundle", "x.yaml", str(jar)], cwd=REPO,
                       capture_output=True, text=True)
    assert r.returncode == 1 and "usage:" in r.stderr


def test_gaps_longest_gap_counts_stalls_across_the_window_edges():
    # acks every 0.5 s, a 4 s stall inside, and a stall that began before the window
    assert gaps.longest_gap([1.0, 1.5, 2.0, 6.0, 6.5], 1.0, 6.5) == (4.0, 2.0, 5)
    assert gaps.longest_gap([0.0, 3.0, 3.5], 1.0, 4.0) == (3.0, 0.0, 2)      # from the last ack before t0
    assert gaps.longest_gap([1.0, 2.0, 9.0], 1.0, 5.0) == (7.0, 2.0, 2)      # to the first ack after t1
    assert gaps.longest_gap([], 10.0, 12.5) == (2.5, 10.0, 0)                # nothing acknowledged at all
    assert gaps.longest_gap([5.0, 2.0, 3.0], 2.0, 5.0) == (2.0, 3.0, 3)      # unsorted input


def test_gaps_cli_reports_the_worst_file_and_refuses_bad_lines(tmp_path, capsys):
    (tmp_path / "w").write_text("100.0\n100.2\n103.7\n104.0\n")
    (tmp_path / "p").write_text("100.0\n101.0\n102.0\n103.0\n104.0\n")
    assert gaps.main(["--from", "100", "--to", "104", f"write={tmp_path / 'w'}", f"pub={tmp_path / 'p'}"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["longest_gap_s"] == 3.5 and out["files"]["write"] == {"longest_gap_s": 3.5, "at": 100.2, "acks": 4}
    assert out["files"]["pub"]["longest_gap_s"] == 1.0 and out["window_s"] == 4.0
    (tmp_path / "bad").write_text("100.0\nnot-a-time\n")
    assert gaps.main(["--from", "100", "--to", "104", f"x={tmp_path / 'bad'}"]) == 1
    assert "bad:2: not an epoch time" in json.loads(capsys.readouterr().out)["error"]
    assert gaps.main(["--from", "100", "--to", "104", f"x={tmp_path / 'missing'}"]) == 1
    assert gaps.main(["--from", "104", "--to", "100", f"w={tmp_path / 'w'}"]) == 1


def test_amqp_table_and_strings():
    assert amqp_confirm.shortstr("ab") == b"\x02ab"
    t = amqp_confirm.table({"x-queue-type": "quorum", "c": {"publisher_confirms": True}})
    (size,) = struct.unpack("!I", t[:4])
    assert size == len(t) - 4
    assert b"\x0cx-queue-typeS\x00\x00\x00\x06quorum" in t
    assert b"\x12publisher_confirmst\x01" in t


def test_report_nests_dotted_keys(tmp_path):
    src = tmp_path / "r.tsv"
    src.write_text('summary.rows_lost\t0\ngalera.a.db1\t{"state": "Synced"}\nnote\tplain text\n')
    subprocess.run([sys.executable, str(LAB / "report.py"), str(src), str(tmp_path / "r.json")], check=True)
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["summary"]["rows_lost"] == 0
    assert rep["galera"]["a"]["db1"]["state"] == "Synced"
    assert rep["note"] == "plain text"


def test_report_lists_faults_in_order_and_keeps_not_run_as_null(tmp_path):
    src = tmp_path / "r.tsv"
    src.write_text('faults[]\t{"name": "db-kill", "ok": true, "rows_lost": 0}\n'
                   'faults[]\t{"name": "power-loss", "ok": null, "run": false}\nfirewall.denied_ok\t5\n')
    subprocess.run([sys.executable, str(LAB / "report.py"), str(src), str(tmp_path / "r.json")], check=True)
    rep = json.loads((tmp_path / "r.json").read_text())
    assert [f["name"] for f in rep["faults"]] == ["db-kill", "power-loss"]
    assert rep["faults"][1]["ok"] is None and rep["faults"][1]["run"] is False   # never reported as ok
    assert rep["firewall"]["denied_ok"] == 5


SITE_ENV = """WCB_ADMIN_NETWORKS="198.18.0.0/26"
WCB_NODE_COUNT=4
WCB_NODE_1_NAME=db1
WCB_NODE_1_IP=198.18.0.11
WCB_NODE_1_ROLES="db-node"
WCB_NODE_2_NAME=db2
WCB_NODE_2_IP=198.18.0.12
WCB_NODE_2_ROLES="db-node"
WCB_NODE_3_NAME=app1
WCB_NODE_3_IP=198.18.0.31
WCB_NODE_3_ROLES="app-node"
WCB_NODE_4_NAME=mq1
WCB_NODE_4_IP=198.18.0.21
WCB_NODE_4_ROLES="mq-node app-node"
"""


def test_fwprobe_plan_allows_each_flow_source_and_denies_everyone_else_on_cluster_and_admin_ports(tmp_path):
    from bundler.site.flows import write_flows_tsv  # the builder's own flows.tsv
    write_flows_tsv(tmp_path / "flows.tsv")
    rows = fwprobe.plan(fwprobe.parse_env(SITE_ENV), (tmp_path / "flows.tsv").read_text(), ["db1", "db2", "app1", "mq1"],
                        {"outsider": "198.18.0.200"})
    allowed = {(s, d, p) for k, s, d, _, p, _ in rows if k == "allowed"}
    denied = {(s, d, p) for k, s, d, _, p, _ in rows if k == "denied"}
    assert ("db2", "db1", 4567) in allowed and ("app1", "db1", 3306) in allowed
    assert ("app1", "db1", 4567) in denied and ("outsider", "db1", 4567) in denied   # app hosts on 4567 count
    assert ("outsider", "db1", 3306) in denied and ("db2", "db1", 3306) in allowed  # the upgrade gate's reads
    assert ("mq1", "mq1", 25672) not in allowed                                    # never a host to itself
    assert ("outsider", "mq1", 15672) in denied and ("app1", "mq1", 15672) in allowed   # admin networks
    assert ("outsider", "app1", 8080) in allowed                                   # zone-wide: no denial
    assert not any(p == 8080 for _, _, p in denied)
    assert ("app1", "mq1", 35672) in denied and ("app1", "mq1", 35682) in denied   # a range: both ends
    assert not allowed & denied


def test_fwprobe_probe_and_listen_on_loopback(tmp_path):
    import socket
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    ready = tmp_path / "ready"
    lst = subprocess.Popen([sys.executable, str(LAB / "fwprobe.py"), "listen", "--ip", "127.0.0.1", "--ready",
                            str(ready), "--max-seconds", "20", str(port)])
    try:
        for _ in range(100):
            if ready.exists() and ready.read_text().strip():
                break
            import time
            time.sleep(0.1)
        assert ready.read_text().split() == [str(lst.pid), str(port)]
        out = subprocess.run([sys.executable, str(LAB / "fwprobe.py"), "probe", "--timeout", "2",
                              f"127.0.0.1:{port}", "127.0.0.1:1"], capture_output=True, text=True, check=True)
        assert json.loads(out.stdout) == {f"127.0.0.1:{port}": "connected", "127.0.0.1:1": "refused"}
    finally:
        lst.terminate()
        lst.wait(timeout=10)


def test_systemd_backend_calls_systemctl_and_galera_new_cluster(tmp_path):
    # systemctl cannot run here: a PATH stub records its argv (the only mock in these tests)
    stubs = tmp_path / "bin"
    stubs.mkdir()
    calls = tmp_path / "calls"
    for name in ("systemctl", "galera_new_cluster"):
        (stubs / name).write_text(f"#!/bin/sh\necho \"{name}${{*:+ $*}}\" >> \"{calls}\"\n")
        (stubs / name).chmod(0o755)
    body = (f"set -euo pipefail\nsource {SERVICE}\nwcb_service_start mariadb\nwcb_service_enable garb\n"
            "wcb_service_restart rabbitmq-server\nwcb_service_stop workcenter\nwcb_service_is_active mariadb\n"
            "wcb_service_bootstrap_galera\nwcb_service_daemon_reload\n")
    env = {"PATH": f"{stubs}:/usr/bin:/bin", "WCB_SERVICE_BACKEND": "systemd"}
    subprocess.run(["bash", "-c", body], env=env, check=True, timeout=30)
    assert calls.read_text().splitlines() == [
        "systemctl start mariadb", "systemctl enable --quiet garb", "systemctl restart rabbitmq-server",
        "systemctl stop workcenter", "systemctl is-active --quiet mariadb", "galera_new_cluster",
        "systemctl daemon-reload"]


@pytest.mark.skipif(shutil.which("javac") is None or shutil.which("jar") is None, reason="needs a JDK")
def test_appcheck_file_checks_and_the_standin_refusals(tmp_path):
    """appcheck.py (issue 18) without the lab: the installer's render of the lab bundle passes the file
    checks, a tampered file fails them, and the real stand-in jar refuses the three broken copies."""
    import appcheck
    subprocess.run(["javac", "-d", str(tmp_path / "cls"), str(LAB / "standin/WorkCenterStandin.java")], check=True)
    (tmp_path / "mf").write_text("Main-Class: WorkCenterStandin\n")
    jar = tmp_path / "WorkCenter.jar"
    subprocess.run(["jar", "cfm", str(jar), str(tmp_path / "mf"), "-C", str(tmp_path / "cls"), "."], check=True)
    bundle = tmp_path / "bundle"
    subprocess.run([sys.executable, "-m", "scripts.lab.make_bundle", str(LAB / "site-3db.yaml"), str(jar), str(bundle)],
                   cwd=REPO, check=True, capture_output=True, text=True)
    script = ('set -euo pipefail; WCB_BUNDLE="$1"; for f in common env site_schema site render; do source "$1/lib/$f.sh"; done; '
              'source "$1/roles/app-node.sh"; wcb_site_load "$1"; WCB_NODE=app1; WCB_NODE_IP=198.18.0.31; '
              'wcb_app_node_vars; wcb_render "$(wcb_app_yml_template)"')
    text = subprocess.run(["bash", "-c", script, "r", str(bundle)], check=True, capture_output=True, text=True).stdout
    result: dict = {}
    appcheck.file_checks(text, bundle, "app1", result)
    assert result["file_ok"] and result["manual_keys"] == "21/21", result
    assert "랩 도메인: 'lab' #1" in text.replace("''", "'")
    bad: dict = {}
    appcheck.file_checks(text.replace("      connection-timeout: 5000\n", ""), bundle, "app1", bad)
    assert not bad["file_ok"] and bad["manual_keys"] == "20/21"
    bad = {}
    appcheck.file_checks(text.replace("/oauth/token'", "'"), bundle, "app1", bad)
    assert bad["site_values_wrong"] == ["workcenter.swagger.tokenUrl"]
    appcheck.refusal_checks(text, str(jar), "198.18.0.31", result)
    assert result["refusals"] == {"enable_false": "refused", "no_other_node": "refused", "no_this_node": "refused"}


DONOR = ("2026-11-30  0:40:34 0 [Note] WSREP: Running: 'wsrep_sst_mariabackup --role 'donor' --address "
         "'198.18.0.12:4444/xtrabackup_sst//1' --local-port 3306 --progress 0 --gtid '{uuid}:10' --gtid-domain-id 0{extra} "
         "--mysqld-args --user=mysql'\n")
UUID = "a138c78d-ec56-11f1-8ad8-6e26166b0c20"
# an older SST, before the marks: never counted
BEFORE = "2026-11-30  0:30:00 0 [Note] WSREP: Running: 'wsrep_sst_rsync --role 'donor' --address 'x'\n"


@pytest.mark.parametrize(("donor_extra", "joiner_log", "kind"), [
    # a full copy: the donor runs the SST script (no --bypass)
    ("", "WSREP: SST received\n", "SST mariabackup"),
    # an IST: the donor runs the script with --bypass, the joiner applies the write-sets (lines of a lab run)
    (" --bypass", "WSREP_SST: [INFO] 'xtrabackup_ist' received from donor: Running IST\n"
                  f"2026-11-30  0:42:42 2 [Note] WSREP: IST received: {UUID}:187\n", "IST"),
    # no transfer at all since the marks
    (None, "", "none"),
])
def test_transfer_kind_tells_ist_from_sst_on_real_log_lines(tmp_path, donor_extra, joiner_log, kind):
    """The lab's transfer_kind (scripts/lab/lib/faults.sh): with mariabackup a donor runs its SST
    script for an IST too (--bypass); only a run without --bypass is an SST."""
    for host, text in (("db1", "" if donor_extra is None else DONOR.format(uuid=UUID, extra=donor_extra)),
                       ("db2", joiner_log)):
        log = tmp_path / host / "root/var/log/mariadb/mariadb.log"
        log.parent.mkdir(parents=True)
        log.write_text(BEFORE + text)
    mark = len(BEFORE)
    body = (f'lab_root() {{ printf "%s/%s/root" "{tmp_path}" "$1"; }}\nsource {LAB}/lib/faults.sh\n'
            f'transfer_kind db2 "db1:{mark} db2:{mark}"')
    res = subprocess.run(["bash", "-c", body], capture_output=True, text=True, timeout=30)
    assert res.stdout.strip() == kind, res.stderr
