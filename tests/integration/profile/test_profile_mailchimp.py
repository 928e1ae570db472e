"""MailchimpAudience (real httpx) against FakeMailchimp (real HTTP on loopback)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import httpx
import pytest

from loyalty_bridge import errors
from loyalty_bridge.adapters.mailchimp import (
    MAX_CONNECTIONS,
    MailchimpAudience,
    MailchimpCredentials,
    MailchimpRefused,
    MailchimpUnavailable,
    subscriber_hash,
)
from loyalty_bridge.models.domain import AudienceMember
from tests.fake_mailchimp import FakeMailchimp

pytestmark = pytest.mark.integration

API_KEY = "0123456789abcdef0123456789abcdef-us21"


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    limits = httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS)
    with httpx.Client(timeout=httpx.Timeout(5.0, pool=30.0), limits=limits) as client:
        yield client


def audience(fake: FakeMailchimp, http: httpx.Client, api_key: str = API_KEY) -> MailchimpAudience:
    return MailchimpAudience(
        http,
        fake.list_id,
        lambda: MailchimpCredentials(api_key=api_key),
        base_url=fake.url,
        sleep=lambda _seconds: None,
    )


def test_upsert_creates_the_member_under_the_md5_of_the_lowercased_email(
    fake_mailchimp: FakeMailchimp, http: httpx.Client
) -> None:
    audience(fake_mailchimp, http).upsert_member(
        AudienceMember(
            email="Ann.Lee@Example.com", first_name="Ann", subscribed_if_new=True, loyalty_member=True
        )
    )

    put = fake_mailchimp.writes()[0]
    assert put.path == f"/3.0/lists/list1/members/{subscriber_hash('ann.lee@example.com')}"
    assert put.body == {
        "email_address": "Ann.Lee@Example.com",
        "status_if_new": "subscribed",
        "merge_fields": {"FNAME": "Ann", "LOYALTY": "yes"},
    }
    member = fake_mailchimp.member("ann.lee@example.com")
    assert member is not None
    assert member.status == "subscribed"


def test_consent_changes_the_status_and_keeps_the_other_merge_fields(
    fake_mailchimp: FakeMailchimp, http: httpx.Client
) -> None:
    fake_mailchimp.add_member("bo@example.com", "subscribed", FNAME="Bo", LOYALTY="yes")

    audience(fake_mailchimp, http).upsert_member(AudienceMember(email="bo@example.com", subscribed=False))

    member = fake_mailchimp.member("bo@example.com")
    assert member is not None
    assert member.status == "unsubscribed"
    assert member.merge_fields == {"FNAME": "Bo", "LOYALTY": "yes"}


def test_an_email_change_moves_the_member_with_a_put_on_the_old_hash(
    fake_mailchimp: FakeMailchimp, http: httpx.Client
) -> None:
    old = fake_mailchimp.add_member("old@example.com", "subscribed", FNAME="Cy")

    audience(fake_mailchimp, http).upsert_member(
        AudienceMember(email="new@example.com", previous_email="old@example.com", loyalty_member=False)
    )

    put = fake_mailchimp.writes()[-1]
    assert put.path.endswith(subscriber_hash("old@example.com"))
    assert put.body["email_address"] == "new@example.com"
    assert fake_mailchimp.member("old@example.com") is None
    moved = fake_mailchimp.member("new@example.com")
    assert moved is not None
    assert moved.unique_email_id == old.unique_email_id
    assert moved.status == "subscribed"


def test_an_email_change_of_someone_not_in_mailchimp_creates_the_new_member(
    fake_mailchimp: FakeMailchimp, http: httpx.Client
) -> None:
    audience(fake_mailchimp, http).upsert_member(
        AudienceMember(email="new2@example.com", previous_email="gone@example.com", subscribed_if_new=False)
    )

    member = fake_mailchimp.member("new2@example.com")
    assert member is not None
    assert member.status == "unsubscribed"


def test_an_email_change_onto_an_existing_member_updates_it_and_archives_the_old(
    fake_mailchimp: FakeMailchimp, http: httpx.Client
) -> None:
    fake_mailchimp.add_member("a@example.com", "subscribed")
    fake_mailchimp.add_member("b@example.com", "unsubscribed")

    audience(fake_mailchimp, http).upsert_member(
        AudienceMember(email="b@example.com", previous_email="a@example.com", last_name="Dee")
    )

    old = fake_mailchimp.member("a@example.com")
    assert old is not None
    assert old.archived
    new = fake_mailchimp.member("b@example.com")
    assert new is not None
    assert new.merge_fields["LNAME"] == "Dee"


@pytest.mark.parametrize("status", [429, 500, 503])
def test_throttling_and_server_errors_are_retried(
    status: int, fake_mailchimp: FakeMailchimp, http: httpx.Client
) -> None:
    fake_mailchimp.fail_next(status, times=2, retry_after="0" if status == 429 else None)

    member = AudienceMember(email="r@example.com", subscribed_if_new=True)
    audience(fake_mailchimp, http).upsert_member(member)

    assert [r.status for r in fake_mailchimp.writes()] == [status, status, 200]


def test_retries_end_in_a_retryable_error(fake_mailchimp: FakeMailchimp, http: httpx.Client) -> None:
    fake_mailchimp.fail_next(503, times=3)

    with pytest.raises(MailchimpUnavailable) as caught:
        audience(fake_mailchimp, http).upsert_member(AudienceMember(email="r@example.com"))
    assert errors.is_retryable(caught.value)


def test_a_member_in_compliance_state_is_a_permanent_refusal(
    fake_mailchimp: FakeMailchimp, http: httpx.Client
) -> None:
    fake_mailchimp.add_member("c@example.com", "subscribed")
    fake_mailchimp.unsubscribe_by_member("c@example.com")

    with pytest.raises(MailchimpRefused) as caught:
        audience(fake_mailchimp, http).upsert_member(AudienceMember(email="c@example.com", subscribed=True))

    assert caught.value.title == "Member In Compliance State"
    assert not errors.is_retryable(caught.value)
    assert len(fake_mailchimp.writes()) == 1  # not retried


def test_a_forgotten_email_is_a_permanent_refusal(fake_mailchimp: FakeMailchimp, http: httpx.Client) -> None:
    fake_mailchimp.forget("f@example.com")

    with pytest.raises(MailchimpRefused) as caught:
        audience(fake_mailchimp, http).upsert_member(AudienceMember(email="f@example.com", subscribed=True))

    assert caught.value.title == "Forgotten Email Not Subscribed"


def test_a_wrong_api_key_is_permanent(fake_mailchimp: FakeMailchimp, http: httpx.Client) -> None:
    adapter = audience(fake_mailchimp, http, api_key="wrong-us21")
    with pytest.raises(errors.Permanent):
        adapter.upsert_member(AudienceMember(email="k@example.com"))
    assert not fake_mailchimp.requests[0].authorised


def test_a_missing_api_key_is_permanent_without_a_request(
    fake_mailchimp: FakeMailchimp, http: httpx.Client
) -> None:
    with pytest.raises(errors.Permanent):
        audience(fake_mailchimp, http, api_key="").upsert_member(AudienceMember(email="k@example.com"))
    assert fake_mailchimp.requests == []


def test_the_data_centre_comes_from_the_key(http: httpx.Client) -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return httpx.Response(200, json={"id": "x", "email_address": "d@example.com", "status": "subscribed"})

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        MailchimpAudience(client, "L1", lambda: MailchimpCredentials(api_key="abc-us7")).upsert_member(
            AudienceMember(email="d@example.com")
        )

    assert calls == [f"https://us7.api.mailchimp.com/3.0/lists/L1/members/{subscriber_hash('d@example.com')}"]


def test_at_most_ten_connections_under_load(fake_mailchimp: FakeMailchimp, http: httpx.Client) -> None:
    adapter = audience(fake_mailchimp, http)
    failures: list[BaseException] = []

    def upsert(n: int) -> None:
        try:
            for i in range(3):
                member = AudienceMember(email=f"load{n}-{i}@example.com", subscribed_if_new=True)
                adapter.upsert_member(member)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=upsert, args=(n,)) for n in range(25)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert fake_mailchimp.peak_connections <= MAX_CONNECTIONS
    assert all(r.status == 200 for r in fake_mailchimp.writes())
    assert len(list(fake_mailchimp.iter_members())) == 75


def test_the_fake_answers_429_beyond_ten_simultaneous_connections(fake_mailchimp: FakeMailchimp) -> None:
    host, port = fake_mailchimp.url.removeprefix("http://").split(":")
    held = [socket.create_connection((host, int(port))) for _ in range(MAX_CONNECTIONS)]
    try:
        # The server counts a connection once its handler thread picked it up.
        for sock in held:
            sock.sendall(b"GET /3.0/ping HTTP/1.1\r\nHost: x\r\nAuthorization: Basic eDp5\r\n\r\n")
            sock.recv(4096)
        with httpx.Client() as client:
            answer = client.get(f"{fake_mailchimp.url}/3.0/ping", auth=("any", API_KEY))
        assert answer.status_code == 429
        assert answer.json()["title"] == "Too Many Requests"
    finally:
        for sock in held:
            sock.close()


def test_the_fake_refuses_a_create_whose_hash_does_not_match(fake_mailchimp: FakeMailchimp) -> None:
    with httpx.Client() as client:
        answer = client.put(
            f"{fake_mailchimp.url}/3.0/lists/list1/members/{subscriber_hash('x@example.com')}",
            json={"email_address": "y@example.com", "status_if_new": "subscribed"},
            auth=("any", API_KEY),
        )
    assert answer.status_code == 400
    assert answer.json()["title"] == "Invalid Resource"
