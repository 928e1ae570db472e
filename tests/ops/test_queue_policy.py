"""The workers' failure policy and the template agree (issue 11): a message is recorded by its
worker on the delivery SQS would otherwise move it to the DLQ. Every work queue's
RedrivePolicy maxReceiveCount equals ``settings.queue_max_receives`` as the functions
consuming that queue read it from their environment (Globals merged with their own)."""

from __future__ import annotations

from typing import Any

from bridge_local.template import Resolver, load_template
from loyalty_bridge.settings import settings_from_env
from tests.ops.cfn import ROOT, queue_roles, resources

TEMPLATE = load_template(ROOT / "template.yaml")


def _environment(function: str) -> dict[str, str]:
    resolver = Resolver(template=TEMPLATE, fallback=lambda name, attribute: f"{name}.{attribute or 'Ref'}")
    return resolver.environment(TEMPLATE.functions[function])


def _max_receive_count(queue: dict[str, Any]) -> int:
    return int(queue["Properties"]["RedrivePolicy"]["maxReceiveCount"])


def test_every_work_queue_is_consumed_and_has_a_redrive_policy() -> None:
    work, dlqs = queue_roles()
    queues = resources("AWS::SQS::Queue")
    assert {"MembershipQueue", "ProfileSyncQueue", "OrderQueue"} <= work, work
    consumed = {source.queue for source in TEMPLATE.sqs_sources}
    for name in work:
        assert "RedrivePolicy" in queues[name]["Properties"], f"{name}: no RedrivePolicy (no DLQ)"
        assert name in consumed, f"{name}: no function consumes it"
    assert dlqs <= consumed, f"dead-letter queues without the DLQ monitor: {dlqs - consumed}"


def test_every_max_receive_count_is_the_setting_its_consumers_read() -> None:
    queues = resources("AWS::SQS::Queue")
    checked = []
    for source in TEMPLATE.sqs_sources:
        queue = queues[source.queue]
        if "RedrivePolicy" not in queue.get("Properties", {}):
            continue  # a dead-letter queue (read by the DLQ monitor): nothing redrives it
        env = _environment(source.function)
        assert "QUEUE_MAX_RECEIVES" in env, f"{source.function}: QUEUE_MAX_RECEIVES not set in template.yaml"
        setting = settings_from_env(env).queue_max_receives
        assert _max_receive_count(queue) == setting, (
            f"{source.queue} maxReceiveCount {_max_receive_count(queue)} != queue_max_receives {setting} "
            f"of its consumer {source.function}: the worker would give up too early or never"
        )
        checked.append(source.queue)
    assert sorted(checked) == ["MemberImportQueue", "MembershipQueue", "OrderQueue", "ProfileSyncQueue"]
