"""``make soak``: thousands of signups, profile changes, orders, redemptions, refunds and
cancellations through the local stack while faults are injected, then a drain and an audit.

    python -m bench.soak [--customers N | --operations N] [--threads N] [--platform-fault-rate P]
                         [--aws-fault-rate P] [--json PATH] [--platform rest|talon-one]

Set-up: the bridge runs with the REST platform adapter against the fake platform server
(tests/fake_rest_platform, in a process of its own: bench/platform_process.py), whose
platform is the built-in DynamoDB ledger on the same moto, so the audit reads real ledger
entries. Faults:
- platform: latency, timeouts (with and without the work done first), 5xx, 429,
  malformed answers, dropped connections, and validation refusals (new member, order,
  profile update), injected at random while the workload runs;
- AWS: the functions' own AWS calls are throttled (ThrottlingException before sending) or
  lose their answer after the work is done (ReadTimeoutError), at random.
The storefront retries 5xx/429 with the same Idempotency-Key, as a real one would.

Audit (after the faults stop and every queue, DLQ included, is drained):
- sent: operations the storefront made (each counted once, however often retried);
- credited: the operation's effect is on the platform (ledger entry, member, profile);
- in the error store: not on the platform, but recorded for a human (and emailed);
- not for points: orders of customers who are not members (their signup is in the
  error store), answered with 0 points by design; refunds of orders that earned nothing;
- refused to the caller: the API answered an error after the storefront's retries, so the
  change was never accepted and the storefront knows (counted, not hidden);
- lost: neither on the platform nor in the error store (must be 0);
- moved twice: points moved more than once or by a wrong amount: a member whose balance is
  not the sum of its entries, an order entry that is not earn minus redeemed, reversals
  beyond what an order earned, an entry no operation asked for (must be 0).
Exit status 1 when lost or moved twice is not 0.

``--platform talon-one``: the same workload on the Talon.One adapter against the fake
Talon.One, audited against what Talon.One holds (bench/soak_talon_one.py).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.harness import BenchStack, Faults, output_to
from bench.storefront import SIGNUP_CONSENTS, SIGNUP_FIRST_NAME, Outcome, Storefront, basket
from loyalty_bridge.models.domain import Reversal

SKU_REFUNDED = "SKU-0000"
# What one customer's journey sends on average (measured: 1,838 operations for 200).
OPERATIONS_PER_CUSTOMER = 9.2


# ---------------------------------------------------------------- the fake platform


class PlatformChaos:
    """Adds random faults to the fake platform's plan while the workload runs."""

    SPREAD: tuple[tuple[str, dict[str, Any], float], ...] = (
        ("latency", {"seconds": 0.2}, 3),
        ("timeout", {"seconds": 1.0}, 2),
        ("timeout", {"seconds": 1.0, "after_effect": True}, 2),  # done, answer lost
        ("status", {"status": 503}, 3),
        ("status", {"status": 500}, 1),
        ("throttle", {"retry_after": "0"}, 2),
        ("malformed", {}, 2),
        ("malformed", {"after_effect": True}, 1),
        ("disconnect", {}, 1),
        (
            "refuse",
            {"operation": "createMember", "status": 409, "code": "duplicate_member", "field": "email"},
            1,
        ),
        ("refuse", {"operation": "postOrder"}, 1),
        ("refuse", {"operation": "updateMember", "field": "first_name"}, 1),
    )

    def __init__(self, server: Any, rate: float, seed: int, max_pending: int = 2) -> None:
        self.server = server
        self.max_pending = max_pending
        self.rate = rate  # faults added per second
        self.random = random.Random(seed)  # noqa: S311 (a reproducible schedule, not crypto)
        self.injected: Counter[str] = Counter()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="platform-chaos", daemon=True)

    def _run(self) -> None:
        from tests.fake_rest_platform.faults import Fault

        kinds = [entry[:2] for entry in self.SPREAD]
        weights = [entry[2] for entry in self.SPREAD]
        while not self.stop.wait(0.1):
            # Faults wait in a FIFO plan for the next matching call: with more than a few
            # pending, every call fails (an outage, not faults). Keep the plan short.
            if (
                self.random.random() >= self.rate / 10
                or len(self.server.faults.pending()) >= self.max_pending
            ):
                continue
            kind, options = self.random.choices(kinds, weights)[0]
            self.server.inject(Fault(kind=kind, **options))  # type: ignore[arg-type]
            label = kind + (":" + options["operation"] if "operation" in options else "")
            label += ":after_effect" if options.get("after_effect") else ""
            self.injected[label] += 1

    def __enter__(self) -> PlatformChaos:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.server.faults.clear()


# ---------------------------------------------------------------- the workload


@dataclass
class Sent:
    signups: dict[str, Outcome] = field(default_factory=dict)
    profiles: dict[str, list[tuple[str, Outcome]]] = field(default_factory=dict)  # customer -> names
    consents: dict[str, list[tuple[bool, Outcome]]] = field(default_factory=dict)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)  # order id -> facts
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    cancels: dict[str, dict[str, Any]] = field(default_factory=dict)
    holds: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def customer_journey(sf: Storefront, sent: Sent, customer_id: str, rng: random.Random) -> None:
    """One customer's life: signup, profile changes, orders with and without points
    redeemed, a released hold, a partial refund and a cancellation."""
    outcome = sf.signup(customer_id, f"{customer_id}@example.com")
    with sent.lock:
        sent.signups[customer_id] = outcome
    for n in range(2):
        name = f"Soak{n}{rng.randrange(1000)}"
        result = sf.update_profile(customer_id, {"first_name": name})
        with sent.lock:
            sent.profiles.setdefault(customer_id, []).append((name, result))
    choice = rng.random() < 0.5
    result = sf.set_consents(customer_id, email=choice, sms=False)
    with sent.lock:
        sent.consents.setdefault(customer_id, []).append((choice, result))

    first = _id("o")
    _order(sf, sent, customer_id, first, None)
    if rng.random() < 0.7:
        _refund(sf, sent, first)
    second = _id("o")
    hold_id = _hold(sf, sent, customer_id, 10)
    _order(sf, sent, customer_id, second, hold_id)
    spare = _hold(sf, sent, customer_id, 5)
    if spare is not None:
        result = sf.release(spare)
        with sent.lock:
            sent.holds[spare]["released"] = result.status
    third = _id("o")
    _order(sf, sent, customer_id, third, None)
    if rng.random() < 0.5:
        result = sf.cancel(third)
        with sent.lock:
            sent.cancels[third] = {"customer_id": customer_id, "outcome": result}


def _order(sf: Storefront, sent: Sent, customer_id: str, order_id: str, hold_id: str | None) -> None:
    lines = basket()
    outcome = sf.order(customer_id, order_id, lines, redemption_id=hold_id)
    if hold_id is not None and outcome.status == 422:
        # The hold is gone (expired or refused): the storefront drops the discount.
        outcome = sf.order(customer_id, order_id, lines)
        hold_id = None
    with sent.lock:
        sent.orders[order_id] = {"customer_id": customer_id, "outcome": outcome, "hold": hold_id}
        if hold_id is not None:
            sent.holds[hold_id]["order_id"] = order_id


def _hold(sf: Storefront, sent: Sent, customer_id: str, points: int) -> str | None:
    outcome = sf.hold(customer_id, _id("cart"), points)
    if outcome.status != 201:
        return None  # not enough points yet, not joined, ...: checkout without a discount
    redemption_id = str(outcome.body["redemption_id"])
    with sent.lock:
        sent.holds[redemption_id] = {"customer_id": customer_id, "points": points, "outcome": outcome}
    return redemption_id


def _refund(sf: Storefront, sent: Sent, order_id: str) -> None:
    refund_id = _id("r")
    outcome = sf.refund(order_id, refund_id, [{"sku": SKU_REFUNDED, "quantity": 1}])
    with sent.lock:
        sent.refunds[refund_id] = {"order_id": order_id, "outcome": outcome}


# ---------------------------------------------------------------- the audit


def _scan(client: Any, table: str) -> list[dict[str, Any]]:
    from boto3.dynamodb.types import TypeDeserializer

    plain = TypeDeserializer()
    items: list[dict[str, Any]] = []
    for page in client.get_paginator("scan").paginate(TableName=table):
        items += [{k: plain.deserialize(v) for k, v in item.items()} for item in page["Items"]]
    return items


@dataclass
class Audit:
    sent: Counter[str] = field(default_factory=Counter)
    credited: Counter[str] = field(default_factory=Counter)
    in_error_store: Counter[str] = field(default_factory=Counter)
    not_for_points: Counter[str] = field(default_factory=Counter)
    answered_error: Counter[str] = field(default_factory=Counter)  # never accepted; the storefront knows
    error_records: Counter[str] = field(default_factory=Counter)  # category: platform answer
    lost: list[str] = field(default_factory=list)
    moved_twice: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "sent": dict(self.sent),
            "credited": dict(self.credited),
            "in_error_store": dict(self.in_error_store),
            "not_for_points": dict(self.not_for_points),
            "answered_error": dict(self.answered_error),
            "error_records": dict(self.error_records.most_common(15)),
            "lost": len(self.lost),
            "lost_examples": self.lost[:20],
            "moved_twice": len(self.moved_twice),
            "moved_twice_examples": self.moved_twice[:20],
        }


def _reversal_key(kind: str, op_id: str, order_id: str) -> str:
    """The ledger's entry id of a reversal (models.domain.Reversal.key)."""
    reversal_id = f"cancel:{order_id}" if kind == "cancel" else op_id
    return Reversal(reversal_id=reversal_id, order_id=order_id, cancel=kind == "cancel").key


def audit(bench: BenchStack, sent: Sent, expected_points: dict[bool, int]) -> Audit:
    tables = bench.stack.provisioned.tables if bench.stack.provisioned else {}
    ddb = bench.aws("dynamodb")
    ledger = _scan(ddb, tables["LedgerTable"])
    bridge = _scan(ddb, tables["BridgeTable"])
    errors = _scan(ddb, tables["ErrorsTable"])
    error_text = [json.dumps(e, default=str) for e in errors]
    entries = {str(i["entry_id"]): i for i in ledger if str(i.get("pk", "")).startswith("ENTRY#")}
    customers = {str(i["customer_id"]): i for i in bridge if i.get("sk") == "PROFILE" and "customer_id" in i}
    members = {str(i["pk"]).removeprefix("MEMBER#"): i for i in ledger if i.get("sk") == "PROFILE"}
    accounts = {str(i["pk"]).removeprefix("MEMBER#"): i for i in ledger if i.get("sk") == "ACCOUNT"}
    result = Audit()
    for record in errors:
        answer = str(record.get("platform_answer") or "")[:70]
        result.error_records[f"{record.get('category')}: {answer}"] += 1

    def recorded(needle: str, category: str | None = None) -> bool:
        return any(needle in text and (category is None or category in text) for text in error_text)

    # Signups: a member, or a New Account Registration Error.
    for customer_id in sent.signups:
        result.sent["signup"] += 1
        record = customers.get(customer_id, {})
        if record.get("status") == "joined" and record.get("member_id") in members:
            result.credited["signup"] += 1
        elif recorded(f'"{customer_id}"', "new_account_registration"):
            result.in_error_store["signup"] += 1
        elif not sent.signups[customer_id].ok and not record:
            result.answered_error["signup"] += 1
        else:
            result.lost.append(f"signup {customer_id}: status {record.get('status')!r}, no error record")

    def joined(customer_id: str) -> bool:
        return customers.get(customer_id, {}).get("status") == "joined"

    # Profile changes: the last acknowledged name is on the platform, or an Account Update Error.
    for customer_id, changes in sent.profiles.items():
        result.sent["profile change"] += len(changes)
        acknowledged = [name for name, outcome in changes if outcome.ok]
        # A change sent after the last acknowledged one whose answer never came may be made.
        last_ok = max((i for i, (_, outcome) in enumerate(changes) if outcome.ok), default=-1)
        unanswered = [name for name, outcome in changes[last_ok + 1 :] if outcome.unknown]
        member_id = customers.get(customer_id, {}).get("member_id")
        profile = json.loads(members.get(str(member_id), {}).get("profile") or "{}") if member_id else {}
        on_platform = profile.get("first_name")
        if not joined(customer_id):
            result.not_for_points["profile change"] += len(changes)
        elif (acknowledged and on_platform == acknowledged[-1]) or (unanswered and on_platform in unanswered):
            result.credited["profile change"] += len(changes)
        elif recorded(f'"{customer_id}"', "account_update"):
            result.in_error_store["profile change"] += len(changes)
        elif not acknowledged and on_platform == SIGNUP_FIRST_NAME:
            # No change was ever accepted (refused, or never answered and not made).
            result.answered_error["profile change"] += len(changes)
        else:
            result.lost.append(
                f"profile {customer_id}: platform has {on_platform!r}, sent {acknowledged}"
                f" (answers never received: {unanswered})"
            )
    for customer_id, changes in sent.consents.items():
        result.sent["consent change"] += len(changes)
        acknowledged_choice = [choice for choice, outcome in changes if outcome.ok]
        last_ok = max((i for i, (_, outcome) in enumerate(changes) if outcome.ok), default=-1)
        unanswered_choice = [choice for choice, outcome in changes[last_ok + 1 :] if outcome.unknown]
        member_id = customers.get(customer_id, {}).get("member_id")
        consents = json.loads(members.get(str(member_id), {}).get("consents") or "{}") if member_id else {}
        chosen = consents.get("email")
        if not joined(customer_id):
            result.not_for_points["consent change"] += len(changes)
        elif (acknowledged_choice and chosen == acknowledged_choice[-1]) or (
            unanswered_choice and chosen in unanswered_choice
        ):
            result.credited["consent change"] += len(changes)
        elif recorded(f'"{customer_id}"', "account_update"):
            result.in_error_store["consent change"] += len(changes)
        elif not acknowledged_choice and consents == SIGNUP_CONSENTS:
            # No change was ever accepted (refused, or never answered and not made).
            result.answered_error["consent change"] += len(changes)
        else:
            result.lost.append(f"consents {customer_id}: platform has {consents}, sent {acknowledged_choice}")

    # Orders: one entry worth earn - redeemed, or a New Order Error, or not a member.
    for order_id, facts in sent.orders.items():
        result.sent["order"] += 1
        answered_for = facts["outcome"].body.get("order_id")
        if facts["outcome"].ok and answered_for != order_id:
            result.moved_twice.append(f"order {order_id}: answered as order {answered_for!r}")
        entry = entries.get(f"order:{order_id}")
        if entry is not None:
            result.credited["order"] += 1
            earned = json.loads(entry.get("result") or "{}")
            redeemed = int(earned.get("points_redeemed", 0))
            expected = expected_points[facts["hold"] is not None]
            if int(earned.get("points_earned", -1)) != expected or int(entry["delta"]) != expected - redeemed:
                result.moved_twice.append(
                    f"order {order_id}: entry {entry['delta']} / {earned}, expected {expected}"
                )
            hold = sent.holds.get(str(facts["hold"])) if facts["hold"] else None
            if hold is not None and redeemed != hold["points"]:
                result.moved_twice.append(f"order {order_id}: redeemed {redeemed}, hold was {hold['points']}")
        elif recorded(order_id, "new_order"):
            result.in_error_store["order"] += 1
        elif not joined(facts["customer_id"]) or facts["outcome"].body.get("reason") in {
            "not_joined",
            "guest",
        }:
            # Not a member when the order came (the answer says so): 0 points by design.
            result.not_for_points["order"] += 1
        elif not facts["outcome"].ok:
            result.answered_error["order"] += 1
        else:
            result.lost.append(
                f"order {order_id}: no ledger entry, no error record ({facts['outcome'].body})"
            )

    # Refunds and cancellations: a reversal entry, or an error, or nothing to reverse.
    for kind, operations in (("refund", sent.refunds), ("cancel", sent.cancels)):
        for op_id, facts in operations.items():
            result.sent[kind] += 1
            order_id = facts.get("order_id", op_id)
            outcome: Outcome = facts["outcome"]
            if _reversal_key(kind, op_id, order_id) in entries:
                result.credited[kind] += 1
            elif recorded(op_id, "new_order"):
                result.in_error_store[kind] += 1
            elif f"order:{order_id}" not in entries or outcome.body.get("status") == "not_applicable":
                result.not_for_points[kind] += 1  # the order earned nothing to take back
            elif not outcome.ok:
                result.answered_error[kind] += 1
            else:
                result.lost.append(
                    f"{kind} {op_id} of {order_id}: no reversal entry, no error ({outcome.body})"
                )

    # Holds: captured by their order, released, or given back by the sweeper.
    for facts in sent.holds.values():
        result.sent["redemption hold"] += 1
        order_id = facts.get("order_id")
        if order_id and f"order:{order_id}" in entries:
            result.credited["redemption hold"] += 1
        elif order_id and recorded(order_id, "new_order"):
            result.in_error_store["redemption hold"] += 1
        else:
            result.not_for_points["redemption hold"] += 1  # released, or expires: points come back

    # Points moved exactly once: balances are the sum of entries; reversals within earnings.
    sums: Counter[str] = Counter()
    sent_keys = {f"order:{o}" for o in sent.orders}
    for kind, operations in (("refund", sent.refunds), ("cancel", sent.cancels)):
        sent_keys |= {_reversal_key(kind, i, f.get("order_id", i)) for i, f in operations.items()}
    for entry in entries.values():
        sums[str(entry["member_id"])] += int(entry["delta"]) + int(entry.get("pending_delta") or 0)
        known = entry["entry_id"] in sent_keys
        if not known and str(entry.get("kind")) in {"order", "reversal"}:
            result.moved_twice.append(f"entry {entry['entry_id']} answers no operation that was sent")
    for member_id, account in accounts.items():
        balance = (
            int(account.get("available", 0))
            + int(account.get("held", 0))
            + int(account.get("pending", 0) or 0)
        )
        if balance != sums.get(member_id, 0):
            result.moved_twice.append(
                f"member {member_id}: balance {balance} != sum of entries {sums[member_id]}"
            )
        if int(account.get("available", 0)) < 0:
            result.moved_twice.append(f"member {member_id}: negative balance {account.get('available')}")
    # Indexed once: a scan per order made the audit quadratic (minutes at 10,000 operations).
    orders = {
        str(i["pk"]).removeprefix("ORDER#"): i for i in ledger if str(i.get("pk", "")).startswith("ORDER#")
    }
    reversals = [
        (json.dumps(e, default=str), int(e["delta"]))
        for e in entries.values()
        if str(e["entry_id"]).startswith("reversal:")
    ]
    for order_id in sent.orders:
        order = orders.get(order_id)
        if order is None:
            continue
        earned = int(json.loads(order.get("earn") or "{}").get("points", 0))
        reversed_total = -sum(delta for text, delta in reversals if order_id in text)
        if reversed_total > earned + int(order.get("redeemed", 0)):
            result.moved_twice.append(f"order {order_id}: reversed {reversed_total} > earned {earned}")
    return result


# ---------------------------------------------------------------- main


def _expected_points(sf: Storefront, customer_id: str) -> dict[bool, int]:
    """What the rules award for the soak's basket, without and with 10 points redeemed."""
    plain = sf.quote(customer_id, basket())
    redeemed = sf.quote(customer_id, basket(), redeem_points=10)
    return {
        False: int(plain.body["points_to_earn"]),
        True: int(redeemed.body.get("points_to_earn_with_redemption", redeemed.body["points_to_earn"])),
    }


def platform_traces(bench: BenchStack, server: Any, findings: list[str]) -> list[str]:
    """For each finding naming a customer: the platform calls made for that customer (its
    member's paths and the create/attach keys), in arrival order, with faults and answers."""
    tables = bench.stack.provisioned.tables if bench.stack.provisioned else {}
    bridge = {
        str(item["customer_id"]): item
        for item in _scan(bench.aws("dynamodb"), tables["BridgeTable"])
        if item.get("sk") == "PROFILE" and "customer_id" in item
    }
    lines = []
    for finding in findings:
        for customer_id in sorted(set(re.findall(r"soak-[0-9a-f]{12}", finding))):
            member_id = str(bridge.get(customer_id, {}).get("member_id") or "")
            lines.append(f"platform calls for {customer_id} (member {member_id or '-'}):")
            for n, call in enumerate(server.calls()):
                about_member = bool(member_id) and member_id in call.path
                about_customer = customer_id in (call.idempotency_key or "")
                if about_member or about_customer:
                    lines.append(
                        f"  #{n} {call.method} {call.path} key={call.idempotency_key} fault={call.fault} "
                        f"status={call.status} replayed={call.replayed}"
                    )
    return lines


def run(args: argparse.Namespace) -> dict[str, Any]:
    from bench.platform_process import PlatformProcess
    from tests.fake_rest_platform.server import DEFAULT_TOKEN

    server = PlatformProcess().start()
    env = {
        "PLATFORM_ADAPTER": "rest",
        "PLATFORM_BASE_URL": server.url,
        "PLATFORM_READ_TIMEOUT_SECONDS": "0.5",
        "PLATFORM_CONNECT_TIMEOUT_SECONDS": "0.5",
        "PLATFORM_CALL_BUDGET_SECONDS": "2.5",
        "PLATFORM_BACKOFF_BASE_SECONDS": "0.05",
        "PLATFORM_BACKOFF_MAX_SECONDS": "0.2",
        "ORDER_SYNC_DEADLINE_SECONDS": "1.5",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
    faults = Faults(args.aws_fault_rate, seed=args.seed)
    faults.enabled = False
    bench = BenchStack(env_overrides=env, faults=faults)
    started = time.perf_counter()
    with output_to(args.log) as console, bench:
        provisioned = bench.stack.provisioned
        assert provisioned is not None
        bench.aws("secretsmanager").put_secret_value(
            SecretId=provisioned.secrets["PlatformSecret"], SecretString=json.dumps({"token": DEFAULT_TOKEN})
        )
        server.bind(str(bench.aws("dynamodb").meta.endpoint_url), provisioned.tables["LedgerTable"])
        sent = Sent()
        with bench.client() as client:
            probe = Storefront(client)
            probe.signup("soak-probe", "soak-probe@example.com")
            bench.drain()
            expected = _expected_points(probe, "soak-probe")
        rng = random.Random(args.seed)  # noqa: S311
        customers = [_id("soak") for _ in range(args.customers)]
        print(
            f"workload: {len(customers)} customers x ~11 operations, faults on", file=sys.stderr, flush=True
        )
        faults.enabled = True
        with PlatformChaos(server, args.platform_fault_rate, args.seed) as chaos:
            local = threading.local()

            def journey(customer_id: str) -> None:
                if not hasattr(local, "sf"):
                    local.sf = Storefront(bench.client(timeout=30))
                customer_journey(local.sf, sent, customer_id, random.Random(rng.random()))  # noqa: S311

            with ThreadPoolExecutor(max_workers=args.threads) as pool:
                list(pool.map(journey, customers))
        faults.enabled = False
        workload_seconds = time.perf_counter() - started
        print("faults off; draining every queue ...", file=console)
        bench.drain(timeout=args.drain_timeout)
        bench.stack.runtime.invoke("HoldSweeperFunction", {}) if bench.stack.runtime else None
        bench.drain(timeout=args.drain_timeout)
        result = audit(bench, sent, expected)
        traces = platform_traces(bench, server, [*result.lost, *result.moved_twice])
        for line in traces:
            print(line)  # into the log: what the platform saw for each lost or doubled operation
        statuses: Counter[int] = Counter()
        server_errors = 0
        for outcome in [*sent.signups.values(), *(o["outcome"] for o in sent.orders.values())]:
            statuses[outcome.status] += 1
            server_errors += outcome.server_errors
    server.stop()
    return {
        "customers": args.customers,
        "threads": args.threads,
        "workload_seconds": round(workload_seconds, 1),
        "total_seconds": round(time.perf_counter() - started, 1),
        "faults_injected": {
            "platform": dict(chaos.injected),
            "aws": dict(faults.injected),
            "platform_total": sum(chaos.injected.values()),
            "aws_total": sum(faults.injected.values()),
        },
        "storefront_retries_after_5xx": server_errors,
        "audit": result.as_json(),
        "platform_traces": traces,
        "expected_points": {"plain": expected[False], "with_10_redeemed": expected[True]},
    }


def report(results: dict[str, Any]) -> str:
    a = results["audit"]
    total = sum(a["sent"].values())
    kinds = list(a["sent"])
    width = max(len(k) for k in [*kinds, "operation"])
    lines = [
        f"Soak: {results['customers']} customers, {results['threads']} storefront threads, "
        f"workload {results['workload_seconds']} s, total {results['total_seconds']} s",
        f"faults injected: platform {results['faults_injected']['platform_total']}, "
        f"AWS calls {results['faults_injected']['aws_total']}; storefront retries after 5xx: "
        f"{results['storefront_retries_after_5xx']}",
        "",
        f"{'operation':<{width}}  {'sent':>6}  {'credited':>8}  {'error store':>11}  {'not for points':>14}"
        f"  {'refused to caller':>17}",
    ]
    for kind in kinds:
        lines.append(
            f"{kind:<{width}}  {a['sent'][kind]:>6}  {a['credited'].get(kind, 0):>8}  "
            f"{a['in_error_store'].get(kind, 0):>11}  {a['not_for_points'].get(kind, 0):>14}"
            f"  {a['answered_error'].get(kind, 0):>17}"
        )
    lines += [
        "",
        f"operations sent: {total} ({total / max(results['workload_seconds'], 0.001):.1f}/s; "
        f"platform faults {results['faults_injected']['platform_total'] / max(total, 1):.2f} per operation)",
        f"credited:        {sum(a['credited'].values())}",
        f"in error store:  {sum(a['in_error_store'].values())}",
        f"lost:            {a['lost']}   (must be 0)",
        f"moved twice:     {a['moved_twice']}   (must be 0)",
    ]
    for example in a["lost_examples"] + a["moved_twice_examples"]:
        lines.append(f"  - {example}")
    lines += ["", "error store, by category and platform answer (most common):"]
    lines += [f"  {n:>5}  {what}" for what, n in a["error_records"].items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=200, help="customers (about 9 operations each)")
    parser.add_argument(
        "--operations",
        type=int,
        default=None,
        help=f"about this many operations instead (customers = N / {OPERATIONS_PER_CUSTOMER})",
    )
    parser.add_argument("--threads", type=int, default=4, help="concurrent storefront threads")
    parser.add_argument("--platform-fault-rate", type=float, default=3.0, help="platform faults per second")
    parser.add_argument("--aws-fault-rate", type=float, default=0.01, help="share of AWS calls faulted")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--platform",
        choices=("rest", "talon-one"),
        default="rest",
        help="rest: the REST adapter on the fake platform server; talon-one: the Talon.One adapter "
        "on the fake Talon.One (bench/soak_talon_one.py)",
    )
    parser.add_argument("--drain-timeout", type=float, default=300.0)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--log", type=Path, default=Path(".local/soak.log"), help="the functions' logs")
    args = parser.parse_args(argv)
    if args.operations is not None:
        args.customers = max(1, math.ceil(args.operations / OPERATIONS_PER_CUSTOMER))
    args.log.parent.mkdir(parents=True, exist_ok=True)
    if args.platform == "talon-one":
        from bench.soak_talon_one import run_talon_one

        results = run_talon_one(args)
    else:
        results = run(args)
    print(report(results))
    for problem in results.get("schema_violations", []):
        print(f"  Talon.One schema violated: {problem}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
    ok = results["audit"]["lost"] == 0 and results["audit"]["moved_twice"] == 0
    ok = ok and not results.get("schema_violations")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
