"""The ops dashboard and alarms in template.yaml match what the code emits (issue 7).

Fails when the dashboard (or an alarm) names a business metric no code emits, when code
emits a metric the dashboard forgot, when a series is charted with dimensions the code
never sends (it would stay empty), and when a queue, DLQ or function lacks its alarm.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.ops.cfn import ROOT, dashboard_body, load_template, queue_roles, render_sub, resources
from tests.ops.emitted import UNKNOWN, scan

NAMESPACE = "LoyaltyBridge"
_SEARCH = re.compile(r"SEARCH\('\s*\{([^}]*)\}\s*([^']*)'")
_SEARCH_NAME = re.compile(r'MetricName\s*=\s*"([^"]+)"')
_INSIGHTS = re.compile(r"SELECT\s+\w+\((\w+)\)\s+FROM\s+(?:SCHEMA\(([^)]*)\)|\"?([\w/]+)\"?)", re.IGNORECASE)

Series = tuple[str, frozenset[str] | None]  # (metric, dimension names; None = any set)


def _series_in_row(row: list[Any]) -> list[Series]:
    if row and isinstance(row[0], dict):
        expression = row[0].get("expression", "")
        found: list[Series] = []
        for schema, term in _SEARCH.findall(expression):
            parts = [p.strip().strip('"') for p in schema.split(",")]
            if parts[0] == NAMESPACE:
                found += [(name, frozenset(parts[1:])) for name in _SEARCH_NAME.findall(term)]
        for metric, schema, namespace in _INSIGHTS.findall(expression):
            if schema:
                parts = [p.strip().strip('"') for p in schema.split(",")]
                if parts[0] == NAMESPACE:
                    found.append((metric, frozenset(parts[1:])))
            elif namespace == NAMESPACE:
                found.append((metric, None))
        return found
    assert row[0] != ".", "write dashboard metric rows in full (no '.' shorthand) so they can be checked"
    if row[0] != NAMESPACE:
        return []
    labels = [item for item in row[2:] if not isinstance(item, dict)]
    return [(row[1], frozenset(labels[0::2]))]


def dashboard_series() -> list[Series]:
    series: list[Series] = []
    for widget in dashboard_body()["widgets"]:
        for row in widget.get("properties", {}).get("metrics", []):
            series += _series_in_row(row)
    return series


def _alarm_series(props: dict[str, Any]) -> list[Series]:
    found: list[Series] = []
    if props.get("Namespace") == NAMESPACE:
        found.append((props["MetricName"], frozenset(d["Name"] for d in props.get("Dimensions", []))))
    for query in props.get("Metrics", []):
        stat = query.get("MetricStat")
        if stat and stat["Metric"]["Namespace"] == NAMESPACE:
            metric = stat["Metric"]
            found.append((metric["MetricName"], frozenset(d["Name"] for d in metric.get("Dimensions", []))))
        if "Expression" in query:
            found += _series_in_row([{"expression": query["Expression"]}])
    return found


def alarms() -> dict[str, dict[str, Any]]:
    return resources("AWS::CloudWatch::Alarm")


def alarm_series() -> dict[str, list[Series]]:
    return {lid: _alarm_series(alarm["Properties"]) for lid, alarm in alarms().items()}


@pytest.fixture(scope="module")
def emissions():
    return scan()


def test_code_emits_only_catalogue_metrics(emissions):
    assert emissions.literal_names == [], "emit metric names from observability.MetricName, not literals"
    assert emissions.unknown_attrs == [], "MetricName attributes that do not exist"


def test_dashboard_names_only_emitted_metrics(emissions):
    emitted = set(emissions.dims)
    charted = {name for name, _ in dashboard_series()}
    assert charted - emitted == set(), "the dashboard charts metrics that no code emits"


def test_dashboard_charts_every_emitted_metric(emissions):
    charted = {name for name, _ in dashboard_series()}
    assert set(emissions.dims) - charted == set(), "code emits metrics the dashboard forgot"


def test_dashboard_charts_each_dimension_set_the_code_sends(emissions):
    charted = dashboard_series()
    missing = []
    for name, dimsets in emissions.dims.items():
        for dims in dimsets - {UNKNOWN}:
            if not any(n == name and (d is None or d == dims) for n, d in charted):
                missing.append(f"{name} {sorted(dims)}")
    assert missing == [], "emitted with these dimensions but never charted with them"


def test_no_chart_or_alarm_waits_for_a_series_that_is_never_sent(emissions):
    named = dashboard_series() + [s for series in alarm_series().values() for s in series]
    empty = []
    for name, dims in named:
        sent = emissions.dims.get(name, set())
        if dims is None or UNKNOWN in sent:
            continue
        if dims not in sent:
            empty.append(f"{name} {sorted(dims)} (code sends {[sorted(d) for d in sent]})")
    assert empty == [], "charted/alarmed with a dimension set the code never sends: always empty"


def test_every_work_queue_has_an_age_alarm_and_every_dlq_a_depth_alarm():
    work, dead = queue_roles()
    covered: dict[str, set[str]] = {}
    for alarm in alarms().values():
        props = alarm["Properties"]
        if props.get("Namespace") != "AWS/SQS":
            continue
        for dim in props.get("Dimensions", []):
            value = dim["Value"]
            if dim["Name"] == "QueueName" and "Fn::GetAtt" in value:
                covered.setdefault(props["MetricName"], set()).add(value["Fn::GetAtt"][0])
    assert work - covered.get("ApproximateAgeOfOldestMessage", set()) == set()
    assert dead - covered.get("ApproximateNumberOfMessagesVisible", set()) == set()


def test_every_queue_is_on_the_dashboard():
    work, dead = queue_roles()
    text = render_sub(resources()["OpsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"])
    for queue in work:
        assert f'"ApproximateAgeOfOldestMessage", "QueueName", "SUB:{queue}.QueueName"' in text
    for queue in dead:
        assert f'"ApproximateNumberOfMessagesVisible", "QueueName", "SUB:{queue}.QueueName"' in text


def _alarmed_functions(metric: str) -> set[str]:
    names: set[str] = set()
    for alarm in alarms().values():
        props = alarm["Properties"]
        stats = [q["MetricStat"]["Metric"] for q in props.get("Metrics", []) if "MetricStat" in q]
        if "MetricName" in props:
            stats.append(props)
        for stat in stats:
            if stat.get("Namespace") == "AWS/Lambda" and stat["MetricName"] == metric:
                names |= {
                    d["Value"]["Ref"] for d in stat.get("Dimensions", []) if d["Name"] == "FunctionName"
                }
    return names


@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_every_function_has_error_and_throttle_alarms(metric):
    functions = set(resources("AWS::Serverless::Function"))
    assert functions - _alarmed_functions(metric) == set()


def test_alarm_metric_math_stays_within_the_ten_metric_limit():
    for lid, alarm in alarms().items():
        stats = [q for q in alarm["Properties"].get("Metrics", []) if "MetricStat" in q]
        assert len(stats) <= 10, lid


def test_every_alarm_notifies_ops_and_has_a_runbook_entry():
    runbook = (ROOT / "docs" / "OPERATIONS.md").read_text()
    anchors = {m.lower() for m in re.findall(r"<a id=\"([^\"]+)\"></a>", runbook)}
    for lid, alarm in alarms().items():
        props = alarm["Properties"]
        assert {"Ref": "OpsAlarmTopic"} in props["AlarmActions"], lid
        assert f"docs/OPERATIONS.md#{lid.lower()}" in props["AlarmDescription"], lid
        assert lid.lower() in anchors, f"docs/OPERATIONS.md has no runbook entry for {lid}"


def test_dashboard_refers_only_to_existing_resources_and_alarms():
    template = load_template()
    text = resources()["OpsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    known = set(template["Resources"]) | set(template["Parameters"])
    for var in re.findall(r"\$\{([^}!]+)\}", text):
        if var.startswith("AWS::"):
            continue
        assert var.split(".")[0] in known, var
    alarm_widget = next(w for w in dashboard_body()["widgets"] if w["type"] == "alarm")
    listed = {arn.removeprefix("SUB:").removesuffix(".Arn") for arn in alarm_widget["properties"]["alarms"]}
    assert listed == set(alarms()), "the alarm widget must list every alarm"
