"""Profile sync through the real handlers and adapters: template.yaml's tables, FIFO queue,
secrets and SES in moto, the built-in ledger as platform, FakeMailchimp over HTTP."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from loyalty_bridge import wiring
from loyalty_bridge.models.api_membership import CreateCustomer
from loyalty_bridge.models.domain import Consents, LoyaltyStatus, MemberProfile, ProfileChanges
from loyalty_bridge.models.records import CustomerRecord
from tests.fake_mailchimp import FakeMailchimp, webhook_form
from tests.lambda_harness import FakeLambdaContext, http_event, load_function, signed_http_event

if TYPE_CHECKING:
    from bridge_local.resources import Provisioned, SigningKey

pytestmark = pytest.mark.integration

HOOK_SECRET = "hook-secret-123"


@pytest.fixture
def stack(
    aws: Provisioned, fake_mailchimp: FakeMailchimp, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Provisioned]:
    aws.client("secretsmanager").put_secret_value(
        SecretId=aws.secrets["MailchimpSecret"],
        SecretString=json.dumps({"api_key": fake_mailchimp.api_key, "webhook_secret": HOOK_SECRET}),
    )
    monkeypatch.setenv("MAILCHIMP_LIST_ID", fake_mailchimp.list_id)
    monkeypatch.setenv("MAILCHIMP_BASE_URL", fake_mailchimp.url)
    monkeypatch.setenv("ADMIN_EMAILS", "ops@example.com")
    wiring.reset()
    yield aws
    wiring.reset()


def key(aws: Provisioned, scope: str) -> SigningKey:
    return next(k for k in aws.signing_keys if k.scope == scope)


def call(
    aws: Provisioned,
    function: str,
    method: str,
    path: str,
    body: Any = None,
    *,
    scope: str = "storefront",
    query: str = "",
) -> tuple[int, Any]:
    signing = key(aws, scope)
    event = signed_http_event(
        method,
        path,
        key_id=signing.key_id,
        secret=signing.secret,
        body=body,
        query=query,
        idempotency_key=uuid.uuid4().hex if method in ("POST", "PUT", "PATCH") else None,
    )
    answer = load_function(function).lambda_handler(event, FakeLambdaContext())
    return answer["statusCode"], json.loads(answer["body"]) if answer.get("body") else None


def run_sync(aws: Provisioned, *, rounds: int = 20) -> list[dict[str, Any]]:
    """Deliver ProfileSyncQueue to the worker as Lambda would, deleting what succeeded."""
    sqs = aws.client("sqs")
    queue = aws.queues["ProfileSyncQueue"]
    worker = load_function("profile_sync_worker")
    answers = []
    for _ in range(rounds):
        received = sqs.receive_message(
            QueueUrl=queue.url, MaxNumberOfMessages=10, AttributeNames=["All"], VisibilityTimeout=0
        ).get("Messages", [])
        if not received:
            break
        event = {"Records": [sqs_record(m, queue.arn) for m in received]}
        answer = worker.lambda_handler(event, FakeLambdaContext())
        answers.append(answer)
        failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
        for message in received:
            if message["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"])
    return answers


def sqs_record(message: dict[str, Any], arn: str) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message["Attributes"],
        "messageAttributes": {},
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
        "awsRegion": "us-east-1",
    }


def joined_customer(email_prefix: str = "c") -> CustomerRecord:
    customer_id = f"{email_prefix}-{uuid.uuid4().hex[:10]}"
    record = CustomerRecord(
        customer_id=customer_id,
        email=f"{customer_id}@example.com",
        first_name="Ann",
        last_name="Lee",
        mobile="+15550001111",
    )
    member = wiring.platform().create_member(
        MemberProfile(email=record.email, first_name="Ann", last_name="Lee"),
        Consents(),
        idempotency_key=f"create-{customer_id}",
    )
    record = record.model_copy(
        update={
            "status": LoyaltyStatus.JOINED,
            "member_id": member.member_id,
            "card_number": member.card.number,
        }
    )
    assert wiring.customers().create(record)
    return record


def sent_mail(aws: Provisioned, to: str) -> list[Any]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    sent = ses_backends[DEFAULT_ACCOUNT_ID][aws.region].sent_messages
    return [m for m in sent if to in (m.destinations or {}).get("ToAddresses", [])]


def test_profile_and_consents_reach_the_platform_and_mailchimp(
    stack: Provisioned, fake_mailchimp: FakeMailchimp
) -> None:
    customer = joined_customer()
    path = f"/v1/customers/{customer.customer_id}"

    status, body = call(stack, "profile_api", "PATCH", path, {"first_name": "Anna", "birthday": "1990-02-03"})
    assert (status, body["sync"]) == (202, "queued")
    for n in range(6):
        status, _ = call(
            stack, "profile_api", "PUT", f"{path}/consents", {"email": n % 2 == 1, "sms": n % 2 == 0}
        )
        assert status == 202

    answers = run_sync(stack)

    assert all(a["batchItemFailures"] == [] for a in answers)
    member = wiring.platform().get_member(customer.member_id or "")
    assert member.profile.first_name == "Anna"
    assert member.consents == Consents(email=True, sms=False)  # n = 5
    mailchimp = fake_mailchimp.member(customer.email)
    assert mailchimp is not None
    assert (mailchimp.status, mailchimp.merge_fields["LOYALTY"], mailchimp.merge_fields["FNAME"]) == (
        "subscribed",
        "yes",
        "Anna",
    )
    assert wiring.sms_optouts().is_opted_out("+15550001111")


def test_bad_profile_bodies_are_422_and_unknown_customers_404(stack: Provisioned) -> None:
    customer = joined_customer()
    path = f"/v1/customers/{customer.customer_id}"

    assert call(stack, "profile_api", "PATCH", path, {})[0] == 422
    assert call(stack, "profile_api", "PATCH", path, {"mobile": None})[0] == 422
    assert call(stack, "profile_api", "PATCH", path, {"email": "not-an-email"})[0] == 422
    assert call(stack, "profile_api", "PATCH", path, {"nickname": "x"})[0] == 422
    assert call(stack, "profile_api", "PUT", f"{path}/consents", {"email": "yes", "sms": False})[0] == 422
    assert call(stack, "profile_api", "PATCH", "/v1/customers/nobody-here", {"first_name": "X"})[0] == 404


def test_a_mailchimp_unsubscribe_reaches_the_platform(
    stack: Provisioned, fake_mailchimp: FakeMailchimp
) -> None:
    customer = joined_customer()
    call(
        stack,
        "profile_api",
        "PUT",
        f"/v1/customers/{customer.customer_id}/consents",
        {"email": True, "sms": True},
    )
    run_sync(stack)
    webhook = load_function("mailchimp_webhook")

    verify = webhook.lambda_handler(
        http_event("GET", "/v1/webhooks/mailchimp", query=f"secret={HOOK_SECRET}"), FakeLambdaContext()
    )
    assert verify["statusCode"] == 200
    form = webhook_form("unsubscribe", customer.email, fake_mailchimp.list_id)
    headers = {"content-type": "application/x-www-form-urlencoded"}
    wrong = webhook.lambda_handler(
        http_event("POST", "/v1/webhooks/mailchimp", body=form, headers=headers, query="secret=nope"),
        FakeLambdaContext(),
    )
    assert wrong["statusCode"] == 401
    answer = webhook.lambda_handler(
        http_event(
            "POST", "/v1/webhooks/mailchimp", body=form, headers=headers, query=f"secret={HOOK_SECRET}"
        ),
        FakeLambdaContext(),
    )
    assert (answer["statusCode"], json.loads(answer["body"])) == (200, {"result": "applied"})
    other = webhook.lambda_handler(
        http_event(
            "POST",
            "/v1/webhooks/mailchimp",
            headers=headers,
            query=f"secret={HOOK_SECRET}",
            body=webhook_form("campaign", customer.email, fake_mailchimp.list_id),
        ),
        FakeLambdaContext(),
    )
    assert (other["statusCode"], json.loads(other["body"])) == (200, {"result": "ignored"})

    run_sync(stack)

    assert wiring.platform().get_member(customer.member_id or "").consents == Consents(email=False, sms=True)


def test_a_platform_refusal_is_listed_emailed_once_and_replayed_after_the_fix(stack: Provisioned) -> None:
    first = joined_customer("a")
    second = joined_customer("b")
    status, _ = call(
        stack, "profile_api", "PATCH", f"/v1/customers/{first.customer_id}", {"email": second.email}
    )
    assert status == 202

    run_sync(stack)

    status, page = call(
        stack,
        "admin_api",
        "GET",
        "/v1/admin/errors",
        scope="admin",
        query="category=account_update&status=open",
    )
    assert status == 200
    mine = [e for e in page["errors"] if e["customer_id"] == first.customer_id]
    assert len(mine) == 1
    error = mine[0]
    assert error["category_title"] == "Account Update Errors"
    assert error["replayable"] is True
    assert error["change_after"]["email"].startswith("b***@")
    mails = [m for m in sent_mail(stack, "ops@example.com") if first.customer_id in m.subject]
    assert len(mails) == 1
    assert "Account Update Errors" in mails[0].subject
    # A storefront key may not use the admin routes.
    assert call(stack, "admin_api", "GET", "/v1/admin/errors")[0] == 403

    # The admin frees the email on the platform, then replays.
    wiring.platform().update_profile(
        second.member_id or "",
        ProfileChanges(email=f"moved-{second.email}"),
        idempotency_key=uuid.uuid4().hex,
    )
    status, replay = call(
        stack, "admin_api", "POST", f"/v1/admin/errors/{error['error_id']}/replay", scope="admin"
    )
    assert (status, replay["status"], replay["queue"]) == (202, "replaying", "profile_sync")
    run_sync(stack)

    assert wiring.platform().get_member(first.member_id or "").profile.email == second.email
    stored = wiring.error_store().get(error["error_id"])
    assert stored is not None
    assert stored.status == "resolved"
    assert len([m for m in sent_mail(stack, "ops@example.com") if first.customer_id in m.subject]) == 1
    status, again = call(
        stack, "admin_api", "POST", f"/v1/admin/errors/{error['error_id']}/replay", scope="admin"
    )
    assert (status, again["code"]) == (409, "already_resolved")


def test_dead_letters_are_recorded_and_emailed(stack: Provisioned) -> None:
    monitor = load_function("dlq_monitor")
    dlq = stack.queues["ProfileSyncDLQ"]
    poison = f"not json {uuid.uuid4().hex} from a.b@example.com"
    envelope = {
        "v": 1,
        "kind": "order.create",
        "message_id": f"o-{uuid.uuid4().hex[:8]}",
        "customer_id": "c-x",
        "payload": {"order_id": "o-1"},
    }
    event = {
        "Records": [
            {
                "messageId": f"m-{uuid.uuid4().hex[:8]}",
                "receiptHandle": "r1",
                "body": poison,
                "attributes": {"ApproximateReceiveCount": "6"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": dlq.arn,
                "awsRegion": "us-east-1",
            },
            {
                "messageId": f"m-{uuid.uuid4().hex[:8]}",
                "receiptHandle": "r2",
                "body": json.dumps(envelope),
                "attributes": {"ApproximateReceiveCount": "5"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": stack.queues["OrderDLQ"].arn,
                "awsRegion": "us-east-1",
            },
        ]
    }

    assert monitor.lambda_handler(event, FakeLambdaContext()) == {"batchItemFailures": []}
    assert monitor.lambda_handler(event, FakeLambdaContext()) == {"batchItemFailures": []}  # redelivered

    unreadable = wiring.error_store().get(f"account_update:unreadable:{event['Records'][0]['messageId']}")
    assert unreadable is not None
    assert unreadable.replay["raw"] == poison
    assert unreadable.attempts == 2
    order = wiring.error_store().get(f"new_order:dlq:{envelope['message_id']}")
    assert order is not None
    assert order.replay["queue"] == "order"
    assert order.replay["body"]["message_id"] == envelope["message_id"]
    subjects = [m.subject for m in sent_mail(stack, "ops@example.com")]
    assert sum("New Order Errors" in s and "c-x" in s for s in subjects) == 1
    status, page = call(stack, "admin_api", "GET", "/v1/admin/errors", scope="admin", query="limit=100")
    assert status == 200
    listed = {e["error_id"]: e for e in page["errors"]}
    assert listed[unreadable.error_id]["replayable"] is False
    assert "a***@e***.com" in listed[unreadable.error_id]["raw_message"]
    path = f"/v1/admin/errors/{unreadable.error_id}"
    status, refused = call(stack, "admin_api", "POST", f"{path}/replay", scope="admin")
    assert (status, refused["code"]) == (409, "not_replayable")
    note = {"note": "producer fixed"}
    status, closed = call(stack, "admin_api", "POST", f"{path}/resolve", note, scope="admin")
    assert (status, closed) == (200, {"error_id": unreadable.error_id, "status": "resolved"})
    status, missing = call(stack, "admin_api", "POST", "/v1/admin/errors/nope/resolve", {}, scope="admin")
    assert (status, missing["code"]) == (404, "error_not_found")


def _hook(body: str) -> tuple[int, Any]:
    answer = load_function("mailchimp_webhook").lambda_handler(
        http_event(
            "POST",
            "/v1/webhooks/mailchimp",
            body=body,
            headers={"content-type": "application/x-www-form-urlencoded"},
            query=f"secret={HOOK_SECRET}",
        ),
        FakeLambdaContext(),
    )
    return answer["statusCode"], json.loads(answer["body"])


def test_an_unsubscribe_for_a_customer_never_synced_is_found_through_the_email_index(
    stack: Provisioned, fake_mailchimp: FakeMailchimp
) -> None:
    customer = joined_customer()  # stored (and indexed) but never pushed anywhere
    twin = joined_customer().model_copy(update={"email": customer.email.upper()})
    saved = wiring.customers().get(twin.customer_id)
    assert saved is not None
    wiring.customers().save(saved.model_copy(update={"email": twin.email}), expected_version=saved.version)
    for who in (customer, twin):
        wiring.profile_updates().set_consents(who.customer_id, Consents(email=True, sms=True))
    for message in (
        stack.client("sqs")
        .receive_message(QueueUrl=stack.queues["ProfileSyncQueue"].url, MaxNumberOfMessages=10)
        .get("Messages", [])
    ):  # the opt-ins never reached Mailchimp: drop them
        stack.client("sqs").delete_message(
            QueueUrl=stack.queues["ProfileSyncQueue"].url, ReceiptHandle=message["ReceiptHandle"]
        )

    status, body = _hook(webhook_form("unsubscribe", f" {customer.email.title()} ", fake_mailchimp.list_id))
    run_sync(stack)

    assert (status, body) == (200, {"result": "applied"})
    for who in (customer, twin):
        assert wiring.platform().get_member(who.member_id or "").consents.email is False


def test_cleaned_and_upemail_from_mailchimp(stack: Provisioned, fake_mailchimp: FakeMailchimp) -> None:
    from urllib.parse import urlencode

    customer = joined_customer()
    call(
        stack,
        "profile_api",
        "PUT",
        f"/v1/customers/{customer.customer_id}/consents",
        {"email": True, "sms": True},
    )
    run_sync(stack)
    new_address = f"mc.{customer.email}"
    moved = urlencode(
        {
            "type": "upemail",
            "data[list_id]": fake_mailchimp.list_id,
            "data[old_email]": customer.email,
            "data[new_email]": new_address,
            "data[new_id]": "abc",
        }
    )

    assert _hook(moved) == (200, {"result": "applied"})
    assert _hook(webhook_form("cleaned", new_address, fake_mailchimp.list_id)) == (200, {"result": "ignored"})
    status, body = _hook(webhook_form("unsubscribe", new_address, fake_mailchimp.list_id))
    run_sync(stack)

    assert (status, body) == (200, {"result": "applied"})
    assert wiring.platform().get_member(customer.member_id or "").consents == Consents(email=False, sms=True)
    record = wiring.customers().get(customer.customer_id)
    assert record is not None
    assert record.email == customer.email  # the web account stays the master


def test_the_platform_change_writes_its_sync_state_in_its_own_transaction(stack: Provisioned) -> None:
    """Issue 19: the ledger's profile (and consents) change and the bridge's sync state of
    it are one transaction; a state a newer version has marked meanwhile is left out, the
    change still made, and nothing newer overwritten."""
    ledger, state = wiring.platform(), wiring.sync_state()
    member = ledger.create_member(MemberProfile(email="a@example.com"), Consents(), idempotency_key=tag())
    customer = f"c-{tag()}"

    changes = ProfileChanges(first_name="Ann", last_name="Lee")
    items = state.applied_items(customer, "platform", 3, ["first_name", "last_name"])
    _, written = ledger.update_profile_recorded(  # type: ignore[attr-defined]
        member.member_id, changes, idempotency_key=tag(), record=items
    )
    assert written
    assert state.load(customer, "platform").versions == {"first_name": 3, "last_name": 3}

    state.mark_applied(customer, "platform", 5, ["last_name"])  # a newer change got there first
    changes = ProfileChanges(first_name="Bo", last_name="Old")
    items = state.applied_items(customer, "platform", 4, ["first_name", "last_name"])
    _, written = ledger.update_profile_recorded(  # type: ignore[attr-defined]
        member.member_id, changes, idempotency_key=tag(), record=items
    )
    assert not written  # left out: the caller marks the fields one by one (mark_applied)
    assert ledger.get_member(member.member_id).profile.first_name == "Bo"
    assert state.load(customer, "platform").versions == {"first_name": 3, "last_name": 5}

    items = state.applied_items(customer, "platform", 6, ["consents"])
    written = ledger.set_consents_recorded(  # type: ignore[attr-defined]
        member.member_id, Consents(email=True, sms=False), idempotency_key=tag(), record=items
    )
    assert written
    assert state.load(customer, "platform").versions["consents"] == 6
    assert ledger.get_member(member.member_id).consents.email is True


def test_the_join_marks_what_the_new_account_has_and_the_rest_still_reaches_the_platform(
    stack: Provisioned, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 19: the join writes the platform's sync state of the fields the account was
    made with, at the joined version, so the join's push does not send them again; a field
    changed while the account was being made is not marked and the push still delivers it."""
    customer_id = f"c-{tag()}"
    signup = CreateCustomer(customer_id=customer_id, email=f"{customer_id}@example.com", first_name="Ann")
    assert wiring.signup_service().signup(signup).status is LoyaltyStatus.PENDING

    ledger = wiring.platform()
    create = ledger.create_member

    def create_then_changed(*args: Any, **kwargs: Any) -> Any:
        member = create(*args, **kwargs)  # the storefront changes the name meanwhile
        current = wiring.customers().get(customer_id)
        assert current is not None
        wiring.customers().save(
            current.model_copy(update={"first_name": "Anna"}), expected_version=current.version
        )
        return member

    monkeypatch.setattr(ledger, "create_member", create_then_changed)
    sqs = stack.client("sqs")
    queue = stack.queues["MembershipQueue"]
    received = sqs.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=10, AttributeNames=["All"])
    event = {"Records": [sqs_record(m, queue.arn) for m in received.get("Messages", [])]}
    assert len(event["Records"]) == 1
    answer = load_function("membership_worker").lambda_handler(event, FakeLambdaContext())
    assert answer == {"batchItemFailures": []}
    monkeypatch.undo()

    joined = wiring.customers().get(customer_id)
    assert joined is not None
    assert (joined.status, joined.first_name) == (LoyaltyStatus.JOINED, "Anna")
    versions = wiring.sync_state().load(customer_id, "platform").versions
    assert versions.get("first_name", -1) < joined.version  # changed meanwhile: left to the push
    marked = {"email", "last_name", "mobile", "birthday", "address", "consents"}
    assert {name: versions.get(name) for name in marked} == dict.fromkeys(marked, joined.version)

    assert all(a["batchItemFailures"] == [] for a in run_sync(stack))
    member = ledger.get_member(joined.member_id or "")
    assert (member.profile.first_name, member.profile.email) == ("Anna", joined.email)
    assert wiring.sync_state().load(customer_id, "platform").versions["first_name"] == joined.version


@pytest.mark.parametrize("synced_first", [False, True])
def test_a_join_reaches_mailchimp_with_its_loyalty_data_in_the_join_push_alone(
    stack: Provisioned, fake_mailchimp: FakeMailchimp, synced_first: bool
) -> None:
    """P4, P6 and issue 19: the join queues one push (the snapshot with the flag and the
    loyalty data), not a loyalty-data refresh besides; whichever way the signup's own push
    and the join cross, Mailchimp ends with the member flagged and their loyalty data."""
    customer_id = f"c-{tag()}"
    email = f"{customer_id}@example.com"
    signup = CreateCustomer(customer_id=customer_id, email=email, first_name="Ann")
    wiring.signup_service().signup(signup)
    if synced_first:  # the signup's push before the join: Mailchimp has a non-member
        run_sync(stack)
        before = fake_mailchimp.member(email)
        assert before is not None
        assert before.merge_fields["LOYALTY"] == "no"
    sqs = stack.client("sqs")
    queue = stack.queues["MembershipQueue"]
    received = sqs.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=10, AttributeNames=["All"])
    event = {"Records": [sqs_record(m, queue.arn) for m in received.get("Messages", [])]}
    answer = load_function("membership_worker").lambda_handler(event, FakeLambdaContext())
    assert answer == {"batchItemFailures": []}
    sync_queue = stack.queues["ProfileSyncQueue"].url
    waiting = sqs.get_queue_attributes(QueueUrl=sync_queue, AttributeNames=["ApproximateNumberOfMessages"])
    assert int(waiting["Attributes"]["ApproximateNumberOfMessages"]) == (1 if synced_first else 2)

    assert all(a["batchItemFailures"] == [] for a in run_sync(stack))
    member = fake_mailchimp.member(email)
    assert member is not None
    assert member.merge_fields["LOYALTY"] == "yes"
    assert str(member.merge_fields["POINTS"]) == "0"
    assert "TIER" in member.merge_fields


def tag() -> str:
    return uuid.uuid4().hex[:10]
