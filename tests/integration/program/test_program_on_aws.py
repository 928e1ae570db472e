"""The program's versions (R9) on template.yaml's BridgeTable in moto: versions with who and
when, newest first and paged; the conditional write that lets only one of two concurrent
writers be version N; the program in force through Powertools Parameters (our provider
over the function's DynamoDB client), one Query per max_age however many reads; "any member
exists" for the kind lock."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from loyalty_bridge import errors, wiring
from loyalty_bridge.adapters.program_store import (
    CURRENT_PK,
    CURRENT_SK,
    ParameterProgramSource,
    PartitionParameters,
)
from loyalty_bridge.models.program import ProgramVersion
from loyalty_bridge.program.earn_rules import ProgramRules

if TYPE_CHECKING:
    from bridge_local.resources import Provisioned

pytestmark = pytest.mark.integration

NOW = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
RICHER = ProgramRules.model_validate({"rules": [{"kind": "spend", "points": 2, "per": 1}], "currency": "GBP"})


def version(number: int, by: str = "admin-1", rules: ProgramRules = RICHER) -> ProgramVersion:
    return ProgramVersion(version=number, program=rules, created_by=by, created_at=NOW)


def test_versions_are_stored_with_who_and_when_and_listed_newest_first(aws: Provisioned) -> None:
    admin = wiring.program_admin()
    assert admin.current().version == 1  # the seed, not stored

    for _ in range(3):
        admin.replace(RICHER, by="admin-1")

    store = wiring.program_store()
    latest = store.latest()
    assert latest is not None
    assert (latest.version, latest.created_by, latest.program) == (4, "admin-1", RICHER)
    first = admin.versions(limit=3, cursor=None)
    rest = admin.versions(limit=3, cursor=first.next_cursor)
    assert [v.version for v in first.versions] == [4, 3, 2]
    assert [(v.version, v.created_by) for v in rest.versions] == [(1, "EarnRulesJson")]
    assert rest.versions[0].program == wiring.program_seed()
    assert rest.next_cursor is None
    with pytest.raises(errors.InvalidInput):
        admin.versions(limit=3, cursor="bm90LW91cnM")


def test_a_taken_number_or_a_gap_is_refused_and_changes_nothing(aws: Provisioned) -> None:
    store = wiring.program_store()
    seed = version(1, by="EarnRulesJson", rules=ProgramRules())
    store.add(version(2), seed=seed)

    for refused in (version(2, by="admin-2"), version(4, by="admin-2")):
        with pytest.raises(errors.Conflict):
            store.add(refused)
    with pytest.raises(errors.Conflict):
        store.add(version(2, by="admin-2"), seed=seed)

    latest = store.latest()
    assert latest is not None
    assert (latest.version, latest.created_by) == (2, "admin-1")
    assert [v.version for v in store.versions(limit=10, cursor=None)[0]] == [2, 1]


def test_of_two_concurrent_writers_of_version_n_exactly_one_wins(aws: Provisioned) -> None:
    store = wiring.program_store()
    store.add(version(2), seed=version(1, by="EarnRulesJson"))
    start = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def write(by: str) -> None:
        start.wait()
        try:
            store.add(version(3, by=by))
            outcomes[by] = "stored"
        except errors.Conflict:
            outcomes[by] = "conflict"

    threads = [threading.Thread(target=write, args=(by,)) for by in ("admin-a", "admin-b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes.values()) == ["conflict", "stored"]
    latest = store.latest()
    winner = next(by for by, outcome in outcomes.items() if outcome == "stored")
    assert latest is not None
    assert (latest.version, latest.created_by) == (3, winner)


def test_two_concurrent_puts_become_consecutive_versions(aws: Provisioned) -> None:
    admin = wiring.program_admin()
    admin.replace(RICHER, by="admin-0")
    start = threading.Barrier(2)
    numbers: list[int] = []

    def put(by: str) -> None:
        start.wait()
        numbers.append(admin.replace(RICHER, by=by).version)

    threads = [threading.Thread(target=put, args=(by,)) for by in ("admin-a", "admin-b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(numbers) == [3, 4]
    assert [v.version for v in admin.versions(limit=10, cursor=None).versions] == [4, 3, 2, 1]


class Queries:
    """DynamoDB calls the Parameters provider makes (botocore's before-call event)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, **_: Any) -> None:
        self.calls += 1


def counted_source(aws: Provisioned, max_age: int) -> tuple[ParameterProgramSource, Queries]:
    client = boto3.client("dynamodb", endpoint_url=aws.endpoint_url, region_name="us-east-1")
    queries = Queries()
    client.meta.events.register("before-call.dynamodb.Query", queries)
    provider = PartitionParameters(client, aws.tables["BridgeTable"])
    return ParameterProgramSource(provider, wiring.program_seed(), max_age=max_age), queries


def test_reads_within_max_age_cost_one_query_and_see_the_stored_version(aws: Provisioned) -> None:
    wiring.program_admin().replace(RICHER, by="admin-1")
    source, queries = counted_source(aws, max_age=30)

    answers = [source.current() for _ in range(50)]

    assert queries.calls == 1
    assert {answer[0] for answer in answers} == {2}
    assert answers[-1][1] == RICHER


def test_without_a_cache_every_read_is_a_query_and_sees_a_new_version_at_once(aws: Provisioned) -> None:
    source, queries = counted_source(aws, max_age=0)
    assert source.current() == (1, wiring.program_seed())  # nothing stored: the seed

    wiring.program_admin().replace(RICHER, by="admin-1")
    answers = [source.current()[0] for _ in range(5)]

    assert answers == [2] * 5
    assert queries.calls == 6


def test_the_provider_reads_every_page_of_a_partition_and_refuses_a_single_get(aws: Provisioned) -> None:
    client = boto3.client("dynamodb", endpoint_url=aws.endpoint_url, region_name="us-east-1")
    table = aws.tables["BridgeTable"]
    for n in range(5):
        item = {"pk": {"S": "P#1"}, "sk": {"S": f"s{n}"}, "value": {"S": f"v{n}"}}
        client.put_item(TableName=table, Item=item)
    queries = Queries()
    client.meta.events.register("before-call.dynamodb.Query", queries)
    provider = PartitionParameters(client, table)

    values = provider.get_multiple("P#1", max_age=0, Limit=2)

    assert values == {f"s{n}": f"v{n}" for n in range(5)}
    assert queries.calls == 3  # 2 + 2 + 1 items
    assert provider.get_multiple("P#none", max_age=0) == {}
    with pytest.raises(GetParameterError, match="sort key"):
        provider.get("P#1", max_age=0)


def test_a_malformed_program_item_is_retryable_until_one_was_read_then_the_last_stays(
    aws: Provisioned,
) -> None:
    client = boto3.client("dynamodb", endpoint_url=aws.endpoint_url, region_name="us-east-1")
    table = aws.tables["BridgeTable"]
    key = {"pk": {"S": CURRENT_PK}, "sk": {"S": CURRENT_SK}}
    client.put_item(TableName=table, Item={**key, "value": {"N": "7"}})
    source = ParameterProgramSource(PartitionParameters(client, table), wiring.program_seed(), max_age=0)
    with pytest.raises(errors.Retryable):
        source.current()

    client.delete_item(TableName=table, Key=key)
    wiring.program_admin().replace(RICHER, by="admin-1")
    assert source.current() == (2, RICHER)
    client.put_item(TableName=table, Item={**key, "value": {"N": "7"}})
    assert source.current() == (2, RICHER)  # the last program read stays in force


def test_wiring_reads_the_program_through_parameters(aws: Provisioned) -> None:
    wiring.program_admin().replace(RICHER, by="admin-1")

    version_in_force, rules = wiring.program_source().current()

    assert (version_in_force, rules.currency) == (2, "GBP")


def test_any_member_is_false_until_a_link_and_finds_links_made_before_the_marker(aws: Provisioned) -> None:
    customers = wiring.customers()
    assert customers.any_member() is False

    customers.link_member("c-1", "m-1", "6100000000000001")

    assert customers.any_member() is True
    legacy = aws.client("dynamodb")
    table = aws.tables["BridgeTable"]
    legacy.delete_item(TableName=table, Key={"pk": {"S": "MEMBERS"}, "sk": {"S": "#ANY"}})
    wiring.reset()  # a fresh container: no memory of having written the marker
    assert wiring.customers().any_member() is True  # found by the scan of member links
    marker = legacy.get_item(TableName=table, Key={"pk": {"S": "MEMBERS"}, "sk": {"S": "#ANY"}})
    assert "Item" in marker  # written back: the next check is one read
