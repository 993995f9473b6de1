"""The Grafana dashboard and its provisioning, checked without Grafana or Prometheus: every
PromQL expression names metrics and labels the services really export (a renamed metric
or label fails here), every panel has a title and the Prometheus data source, and
docker-compose.yml provisions the files that exist."""

from __future__ import annotations

import copy
import importlib
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from prometheus_client import REGISTRY

from tests.deploy.compose_files import compose_environment, interpolate, load_compose
from tests.deploy.deploy_support import REPO, SERVICES

GRAFANA = REPO / "deploy" / "grafana"
DASHBOARD = GRAFANA / "cxloop.json"
DATASOURCE = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
# Labels Prometheus adds to every scraped series, and the bucket bound of histograms.
TARGET_LABELS = {"job", "instance"}
# What an operator must find on the dashboard (the list).
MUST_SHOW = {
    "cxloop_http_requests_total",
    "cxloop_http_request_seconds_bucket",
    "cxloop_consumer_lag",
    "cxloop_consumer_batch_seconds_bucket",
    "cxloop_consumer_messages_total",
    "cxloop_dlq_messages_total",
    "cxloop_outbox_depth",
    "cxloop_dispatch_decisions_total",
    "cxloop_sends_total",
    "cxloop_circuits_open",
    "cxloop_outbox_relayed_total",
    "cxloop_webhook_attempts_total",
    "cxloop_ingest_touchpoints_total",
    "cxloop_ingest_group_commit_items_bucket",
}
ROWS = {"HTTP", "Kafka consumers", "Outbox", "Dispatch", "Scoring", "Ingest"}

_METRIC = re.compile(r"\bcxloop_[a-z0-9_]+\b")
_SELECTOR = re.compile(r"\b(cxloop_[a-z0-9_]+)\s*\{([^}]*)\}")
_MATCHER = re.compile(r"(\w+)\s*(?:=~|!~|!=|=)")
_GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
_LEGEND = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def exported_metrics() -> dict[str, set[str]]:
    """Every series name the four services can export (with the `_total`, `_bucket`,
    `_count`, `_sum` suffixes), each with its label names, read from the registry their
    modules fill when imported."""
    for service in SERVICES:
        importlib.import_module(f"{service.module}.app")
    # The registry's own index: the only place that maps each suffixed series name to its
    # collector, whose label names a series without samples yet does not show.
    collectors = REGISTRY._names_to_collectors
    return {
        name: set(getattr(collector, "_labelnames", ()))
        | ({"le"} if name.endswith("_bucket") else set())
        for name, collector in collectors.items()
        if name.startswith("cxloop_")
    }


@pytest.fixture(scope="module")
def metrics() -> dict[str, set[str]]:
    return exported_metrics()


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel but the rows, including panels inside collapsed rows."""
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def expressions(dashboard: Mapping[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(where, PromQL, legend) of every panel target and every query variable."""
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            yield (
                f"panel {panel.get('title')!r}",
                target.get("expr", ""),
                target.get("legendFormat", ""),
            )
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            text = query["query"] if isinstance(query, Mapping) else query
            yield f"variable {variable['name']}", text, ""


def expression_problems(
    where: str, expr: str, legend: str, metrics: Mapping[str, set[str]]
) -> list[str]:
    """Metrics or labels in one expression that no service exports."""
    names = set(_METRIC.findall(expr))
    problems = [f"{where}: {name} is not exported" for name in sorted(names - metrics.keys())]
    if not names:
        return [*problems, f"{where}: no cxloop metric in {expr!r}"]
    known = set().union(*(metrics.get(name, set()) for name in names)) | TARGET_LABELS
    for name, matchers in _SELECTOR.findall(expr):
        for label in _MATCHER.findall(matchers):
            if label not in metrics.get(name, set()) | TARGET_LABELS:
                problems.append(f"{where}: {name} has no label {label!r}")
    grouped = {label.strip() for group in _GROUPING.findall(expr) for label in group.split(",")}
    label_values = re.search(r"label_values\(\s*\w+\s*,\s*(\w+)\s*\)", expr)
    used = grouped | set(_LEGEND.findall(legend)) | ({label_values[1]} if label_values else set())
    problems += [f"{where}: no metric here has label {label!r}" for label in used - known - {""}]
    return problems


def dashboard_problems(dashboard: Mapping[str, Any], metrics: Mapping[str, set[str]]) -> list[str]:
    """Everything that would make a panel empty or broken."""
    problems = []
    for where, expr, legend in expressions(dashboard):
        problems += expression_problems(where, expr, legend, metrics)
    for panel in panels(dashboard):
        where = f"panel {panel.get('id')} ({panel.get('title')!r})"
        if not panel.get("title"):
            problems.append(f"{where}: no title")
        if panel.get("datasource") != DATASOURCE:
            problems.append(f"{where}: data source is not {DATASOURCE}")
        targets = panel.get("targets", [])
        if not targets:
            problems.append(f"{where}: no query")
        if any(t.get("datasource") != DATASOURCE for t in targets):
            problems.append(f"{where}: a query's data source is not {DATASOURCE}")
        if len({t.get("refId") for t in targets}) != len(targets):
            problems.append(f"{where}: refIds repeat")
    return problems


def overlapping(dashboard: Mapping[str, Any]) -> list[tuple[int, int]]:
    """Pairs of panels (rows included) whose grid places overlap."""
    boxes = [(p["id"], p["gridPos"]) for p in dashboard["panels"]]
    pairs = []
    for i, (a, one) in enumerate(boxes):
        for b, other in boxes[i + 1 :]:
            if (
                one["x"] < other["x"] + other["w"]
                and other["x"] < one["x"] + one["w"]
                and one["y"] < other["y"] + other["h"]
                and other["y"] < one["y"] + one["h"]
            ):
                pairs.append((a, b))
    return pairs


def test_the_dashboard_queries_only_metrics_and_labels_the_services_export(
    dashboard: dict[str, Any], metrics: dict[str, set[str]]
) -> None:
    assert dashboard_problems(dashboard, metrics) == []


def test_the_dashboard_shows_what_an_operator_needs(dashboard: dict[str, Any]) -> None:
    shown = {name for _, expr, _ in expressions(dashboard) for name in _METRIC.findall(expr)}
    rows = {panel["title"] for panel in dashboard["panels"] if panel["type"] == "row"}

    assert MUST_SHOW - shown == set()
    assert ROWS - rows == set()
    assert dashboard["schemaVersion"] >= 39
    assert dashboard["uid"] == "cxloop"
    assert overlapping(dashboard) == []
    assert all(p["gridPos"]["x"] + p["gridPos"]["w"] <= 24 for p in dashboard["panels"])
    variable = next(v for v in dashboard["templating"]["list"] if v["name"] == "DS_PROMETHEUS")
    assert (variable["type"], variable["query"]) == ("datasource", "prometheus")


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("cxloop_sends_total", "cxloop_send_total", "cxloop_send_total is not exported"),
        ("by (channel, result)", "by (chanel, result)", "label 'chanel'"),
        ('status=~"5.."', 'code=~"5.."', "has no label 'code'"),
        ("{{outcome}}: {{reason}}", "{{outcome}}: {{why}}", "label 'why'"),
    ],
)
def test_a_renamed_metric_or_label_is_caught(
    dashboard: dict[str, Any], metrics: dict[str, set[str]], old: str, new: str, problem: str
) -> None:
    broken = copy.deepcopy(dashboard)
    for panel in panels(broken):
        for target in panel["targets"]:
            target["expr"] = target["expr"].replace(old, new)
            target["legendFormat"] = target["legendFormat"].replace(old, new)

    found = dashboard_problems(broken, metrics)

    assert any(problem in line for line in found), found


def test_a_panel_without_title_or_data_source_is_caught(
    dashboard: dict[str, Any], metrics: dict[str, set[str]]
) -> None:
    broken = copy.deepcopy(dashboard)
    panel = next(panels(broken))
    panel["title"] = ""
    panel["datasource"] = {"type": "prometheus", "uid": "somewhere-else"}

    found = dashboard_problems(broken, metrics)

    assert any("no title" in line for line in found)
    assert any("data source is not" in line for line in found)


def mounts(definition: Mapping[str, Any]) -> dict[str, Path]:
    """Container path → repository path of each bind mount of a compose service."""
    found = {}
    for volume in definition.get("volumes", []):
        source, target, *_ = volume.split(":")
        if source.startswith("./"):
            found[target] = REPO / source
    return found


def in_container(path: str, mounted: Mapping[str, Path]) -> Path | None:
    """The repository file or folder a container path shows, if a bind mount provides it."""
    for target, source in mounted.items():
        if path == target or path.startswith(target.rstrip("/") + "/"):
            return source / Path(path).relative_to(target)
    return None


def test_compose_provisions_the_dashboard_and_prometheus_in_grafana() -> None:
    compose = interpolate(load_compose())
    grafana = compose["services"]["grafana"]
    mounted = mounts(grafana)
    provisioning = in_container("/etc/grafana/provisioning", mounted)
    assert provisioning is not None
    assert provisioning.resolve() == (GRAFANA / "provisioning").resolve()

    providers = [
        provider
        for path in sorted((provisioning / "dashboards").glob("*.yml"))
        for provider in yaml.safe_load(path.read_text())["providers"]
    ]
    assert providers
    for provider in providers:
        shown = in_container(f"{provider['options']['path']}/{DASHBOARD.name}", mounted)
        assert shown is not None, f"nothing is mounted at {provider['options']['path']}"
        assert shown.resolve() == DASHBOARD.resolve()
    home = compose_environment(grafana)["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert in_container(home, mounted) == DASHBOARD

    (datasource,) = [
        source
        for path in sorted((provisioning / "datasources").glob("*.yml"))
        for source in yaml.safe_load(path.read_text())["datasources"]
    ]
    url = urlsplit(datasource["url"])
    prometheus_port = int(compose["services"]["prometheus"]["ports"][0].split(":")[-1])
    assert (datasource["type"], url.hostname, url.port) == ("prometheus", "prometheus", 9090)
    assert url.port == prometheus_port
    assert datasource["isDefault"] is True
    assert "prometheus" in grafana["depends_on"]
    assert "change-me" in compose_environment(grafana)["GF_SECURITY_ADMIN_PASSWORD"]


def test_the_alert_rules_group_by_labels_the_metrics_have(metrics: dict[str, set[str]]) -> None:
    rules = yaml.safe_load((REPO / "deploy" / "prometheus" / "alerts.yml").read_text())
    checked = [
        (f"alert {rule['alert']}", rule["expr"])
        for group in rules["groups"]
        for rule in group["rules"]
        if _METRIC.search(rule["expr"])
    ]

    assert checked
    assert [p for where, e in checked for p in expression_problems(where, e, "", metrics)] == []
