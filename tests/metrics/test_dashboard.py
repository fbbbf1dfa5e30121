"""The Grafana dashboard (monitoring/grafana-kioskd-fleet.json): the fleet table has the columns
ops asked for, one row of panels repeats per kiosk, every query is valid PromQL (promtool), uses
only series kioskd exports, and the fleet table's queries give the right values on written
series (`promtool test rules`, promql_expr_test)."""

from __future__ import annotations

import json
import re
import subprocess

import yaml

from tests.metrics.conftest import REPO, need_promtool
from tests.metrics.test_alert_rules import exported_names

DASHBOARD = REPO / "monitoring" / "grafana-kioskd-fleet.json"


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def panels(d: dict) -> list[dict]:
    out = []
    for p in d["panels"]:
        out.append(p)
        out.extend(p.get("panels", []))
    return out


def fleet_table(d: dict) -> dict:
    (table,) = [p for p in panels(d) if p["title"] == "Fleet"]
    return table


def exprs(d: dict) -> list[str]:
    return [t["expr"] for p in panels(d) for t in p.get("targets", [])]


def test_fleet_table_has_kiosk_up_queue_in_doubt_printer_last_sale():
    table = fleet_table(dashboard())
    assert table["type"] == "table"
    organize = next(t for t in table["transformations"] if t["id"] == "organize")["options"]
    columns = set(organize["renameByName"].values())
    assert {"kiosk", "up", "queue", "in doubt", "printer", "last sale"} <= columns
    refs = {t["refId"] for t in table["targets"]}
    for name in organize["renameByName"]:
        if name.startswith("Value #"):
            assert name.removeprefix("Value #") in refs, name


def test_one_row_of_panels_per_kiosk():
    d = dashboard()
    rows = [p for p in d["panels"] if p["type"] == "row"]
    assert [r.get("repeat") for r in rows] == ["kiosk"]
    (kiosk,) = [v for v in d["templating"]["list"] if v["name"] == "kiosk"]
    assert kiosk["definition"] == "label_values(kioskd_build_info, terminal_id)"
    assert kiosk["multi"] and kiosk["includeAll"]
    per_kiosk = [p for p in panels(d) if p["type"] != "row" and p["title"] != "Fleet"]
    assert len(per_kiosk) >= 6
    for p in per_kiosk:
        for t in p["targets"]:
            assert 'terminal_id="$kiosk"' in t["expr"], (p["title"], t["expr"])


def test_every_query_is_valid_promql(tmp_path):
    promtool = need_promtool()
    rules = [
        {"record": f"dashboard:query{i}", "expr": e.replace("$kiosk", "K-214")}
        for i, e in enumerate(exprs(dashboard()))
    ]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    out = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_kioskd_series_on_the_dashboard_is_exported():
    used = set(re.findall(r"\bkioskd_\w+", "\n".join(exprs(dashboard()))))
    used = {re.sub(r"_(bucket|count|sum)$", "", u) for u in used}
    exported = {re.sub(r"_(bucket|count|sum)$", "", e) for e in exported_names()}
    assert used <= exported, used - exported


def test_fleet_table_values_on_written_series(tmp_path):
    """K-214: paper out, one sale in doubt, API down. K-215: fine. K-216: printer unplugged."""
    promtool = need_promtool()
    queries = {t["refId"]: t["expr"] for t in fleet_table(dashboard())["targets"]}
    series = []
    for n, api, doubt, connected, paper in (
        (214, 0, 1, 1, "out"),
        (215, 1, 0, 1, "ok"),
        (216, 1, 0, 0, "unknown"),
    ):
        inst = f'job="kiosk",instance="k{n}:9100"'
        series += [
            (f'kioskd_build_info{{{inst},terminal_id="K-{n}",version="0.1.0"}}', 1),
            (f"kioskd_api_up{{{inst}}}", api),
            (f'kioskd_operations_unfinished{{{inst},state="in_doubt"}}', doubt),
            (f'kioskd_operations_unfinished{{{inst},state="reconciling"}}', 0),
            (f"kioskd_printer_connected{{{inst}}}", connected),
            (f'kioskd_printer_cover{{{inst},state="open"}}', 0),
        ]
        for state in ("ok", "near_end", "out", "unknown"):
            series.append((f'kioskd_printer_paper{{{inst},state="{state}"}}', int(state == paper)))

    def expect(values: dict[int, int]) -> list[dict]:
        return [
            {"labels": f'{{instance="k{n}:9100",terminal_id="K-{n}"}}', "value": v}
            for n, v in values.items()
        ]

    tests = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": s, "values": f"{v}x5"} for s, v in series],
                "promql_expr_test": [
                    {
                        "expr": queries[ref].replace("$kiosk", ".*"),
                        "eval_time": "2m",
                        "exp_samples": expect(values),
                    }
                    for ref, values in {
                        "UP": {214: 0, 215: 1, 216: 1},
                        "DOUBT": {214: 1, 215: 0, 216: 0},
                        # 0 ok, 1 paper near end, 2 paper out, 3 printer gone, 4 cover open
                        "PRINTER": {214: 2, 215: 0, 216: 3},
                    }.items()
                ],
            }
        ],
    }
    path = tmp_path / "dashboard.test.yml"
    path.write_text(yaml.safe_dump(tests))
    out = subprocess.run(
        [promtool, "test", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stdout + out.stderr
