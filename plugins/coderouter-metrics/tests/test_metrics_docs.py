"""The README and the Grafana dashboard stay true to the code."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import attrs
from coderouter_metrics import MetricsConfig, catalog

from coderouter.config import structure

PLUGIN_DIR = Path(__file__).resolve().parents[1]
README = (PLUGIN_DIR / "README.md").read_text(encoding="utf-8")
GRAFANA = PLUGIN_DIR.parents[1] / "contrib" / "grafana-dashboard.json"
METRICS = (*catalog.COUNTERS, *catalog.HISTOGRAMS, *catalog.GAUGES)


def settings_block() -> str:
    match = re.search(r"```toml\n(\[plugins\.metrics\]\nmetrics_dir.*?)```", README, re.S)
    assert match is not None, "the README has no full [plugins.metrics] block"
    return match.group(1)


def test_every_metric_is_documented_with_its_labels() -> None:
    for metric in METRICS:
        line = next(
            (row for row in README.splitlines() if row.startswith(f"| `{metric.name}`")), None
        )
        assert line is not None, metric.name
        assert f"| {metric.kind} |" in line, metric.name
        labels = f" {', '.join(metric.labels)} " if metric.labels else " "
        assert f"|{labels}|" in line, metric.name


def test_the_documented_settings_are_every_key_with_its_real_default() -> None:
    raw = tomllib.loads(settings_block())["plugins"]["metrics"]
    assert set(raw) == {f.name for f in attrs.fields(MetricsConfig)}
    assert structure(raw, MetricsConfig, source="README") == MetricsConfig()


def test_grafana_dashboard_queries_only_metrics_that_exist() -> None:
    dashboard = json.loads(GRAFANA.read_text(encoding="utf-8"))
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 20
    known = {m.name for m in METRICS}
    used = set()
    for expr in exprs:
        for name in re.findall(r"coderouter_[a-z_]+", expr):
            base = re.sub(r"_(bucket|count|sum)$", "", name)
            assert base in known, f"{name} in {expr}"
            used.add(base)
    assert used >= {m.name for m in (*catalog.COUNTERS, *catalog.HISTOGRAMS)}
    assert {p["datasource"]["uid"] for p in dashboard["panels"] if "datasource" in p} == {
        "${datasource}"
    }
