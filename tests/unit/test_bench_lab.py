"""scripts/bench_lab.py: `make bench` reads the rolling upgrade's gaps from the newest trusted lab report."""

from __future__ import annotations

import json
import os
import time

from scripts import bench_lab


def report(tmp, name, upgrade, commit="abc1234", age=0.0):
    d = tmp / f"wcb-lab.{name}"
    d.mkdir()
    p = d / "report.json"
    p.write_text(json.dumps({"summary": {"commit": commit}, **({"upgrade": upgrade} if upgrade is not None else {})}))
    t = time.time() - age
    os.utime(p, (t, t))
    return p


UP = {"run": True, "ok": True, "nodes": 8, "nodes_total": 8, "rows_acked": 900, "rows_lost": 0,
      "messages_confirmed": 4000, "messages_lost": 0, "longest_write_gap_s": 2.4, "longest_publish_gap_s": 6.1}


def test_newest_report_with_a_run_upgrade_is_read_and_judged_against_5_s(tmp_path, capsys):
    report(tmp_path, "old", dict(UP, longest_write_gap_s=1.0), commit="old0000", age=100)
    report(tmp_path, "new", UP, age=10)
    report(tmp_path, "newest", {"run": False, "ok": None}, age=1)      # faults-only run: no gaps
    report(tmp_path, "none", None, age=0)                               # a report before issue 14
    got = bench_lab.main(env={}, tmp=tmp_path)
    assert got["available"] and got["commit"] == "abc1234" and got["longest_write_gap_s"] == 2.4
    assert got["within_target"] is False                                 # 6.1 s publish gap > 5 s
    out = capsys.readouterr().out
    assert "longest write gap 2.4 s, longest publish gap 6.1 s" in out and "missed" in out


def test_lab_report_env_and_no_report(tmp_path, capsys):
    p = report(tmp_path, "x", dict(UP, longest_publish_gap_s=3.0))
    got = bench_lab.main(env={"LAB_REPORT": str(p)}, tmp=tmp_path / "nowhere")
    assert got["within_target"] is True and got["report"] == str(p)
    assert bench_lab.main(env={}, tmp=tmp_path / "nowhere") == {"available": False, "target_s": 5.0}
    assert "no lab report with a rolling upgrade found" in capsys.readouterr().out
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "report.json").write_text("{not json")
    assert bench_lab.main(env={"LAB_REPORT": str(tmp_path / "bad" / "report.json")})["available"] is False


def test_a_symlinked_report_is_not_trusted(tmp_path):
    p = report(tmp_path, "real", UP)
    (tmp_path / "wcb-lab.link").mkdir()
    (tmp_path / "wcb-lab.link" / "report.json").symlink_to(p)
    assert bench_lab.read_report(tmp_path / "wcb-lab.link" / "report.json") is None
    assert bench_lab.read_report(p)["nodes"] == 8
