"""``python -m bench.soak --platform talon-one``: the soak's workload and faults with the
bridge on the Talon.One adapter against the fake Talon.One (tests/fake_talon_one), then an
audit of what Talon.One holds: profiles, cards, customer sessions and card transactions.

Faults (by Integration API operation): latency, timeouts (with and without the work done
first), 5xx, 429, malformed answers (also after the work is done), dropped connections and
refusals of a session close and of a profile update. AWS faults as in bench.soak.

Audit: as bench.soak, but "credited" is read from Talon.One: a joined customer's member is a
profile with a card; a profile change is the profile's FirstName, consents its EmailOptIn;
an order is its session ``order-{id}`` closed with one "points per spend" addition worth what
the quote said (and one deduction of the captured hold's points); a refund a returned item
of that session, a cancel the session cancelled. Moved twice: a session with more than one
addition or deduction of a kind, a wrong amount, an item returned twice, points rolled back
beyond what the session added, or a transaction of a session no operation asked for.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.harness import BenchStack, Faults, output_to
from bench.soak import (
    SKU_REFUNDED,
    Audit,
    PlatformChaos,
    Sent,
    _expected_points,
    _id,
    _scan,
    customer_journey,
)
from bench.storefront import Storefront

SPEND = "Points per spend"
REDEEM = "Redeem points"


class TalonOneChaos(PlatformChaos):
    SPREAD: tuple[tuple[str, dict[str, Any], float], ...] = (
        ("latency", {"seconds": 0.2}, 3),
        ("timeout", {"seconds": 1.0}, 2),
        ("timeout", {"seconds": 1.0, "after_effect": True}, 2),  # done, answer lost
        ("status", {"status": 503}, 3),
        ("status", {"status": 500}, 1),
        ("status", {"status": 502, "after_effect": True}, 1),
        ("throttle", {"retry_after": "0"}, 2),
        ("malformed", {}, 2),
        ("malformed", {"after_effect": True}, 1),
        ("disconnect", {}, 1),
        ("refuse", {"operation": "updateCustomerSessionV2", "status": 400}, 1),
        ("refuse", {"operation": "updateCustomerProfileV2", "status": 400}, 1),
    )


def _sessions(app: Any) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]], dict[str, Any]]:
    """Copies of the fake's sessions, every card transaction by session id, and profiles."""
    with app._lock:
        sessions = dict(app.state.sessions)
        moves: dict[str, list[dict[str, Any]]] = {}
        for card in app.state.cards.values():
            for row in card.transactions:
                moves.setdefault(str(row["customerSessionId"]), []).append(dict(row))
        profiles = {k: json.loads(json.dumps(v)) for k, v in app.state.profiles.items()}
    return sessions, moves, profiles


def _customers(bench: BenchStack) -> dict[str, dict[str, Any]]:
    tables = bench.stack.provisioned.tables if bench.stack.provisioned else {}
    return {
        str(i["customer_id"]): i
        for i in _scan(bench.aws("dynamodb"), tables["BridgeTable"])
        if i.get("sk") == "PROFILE" and "customer_id" in i
    }


def _error_text(bench: BenchStack, result: Audit) -> list[str]:
    tables = bench.stack.provisioned.tables if bench.stack.provisioned else {}
    errors = _scan(bench.aws("dynamodb"), tables["ErrorsTable"])
    for record in errors:
        answer = str(record.get("platform_answer") or "")[:70]
        result.error_records[f"{record.get('category')}: {answer}"] += 1
    return [json.dumps(e, default=str) for e in errors]


def audit_talon_one(bench: BenchStack, app: Any, sent: Sent, expected: dict[bool, int]) -> Audit:
    result = Audit()
    customers = _customers(bench)
    error_text = _error_text(bench, result)
    sessions, moves, profiles = _sessions(app)

    def recorded(needle: str, category: str) -> bool:
        return any(needle in text and category in text for text in error_text)

    def member(customer_id: str) -> str | None:
        record = customers.get(customer_id, {})
        return (
            str(record["member_id"]) if record.get("status") == "joined" and record.get("member_id") else None
        )

    _audit_members(result, sent, customers, profiles, member, recorded)
    _audit_orders(result, sent, sessions, moves, expected, member, recorded)
    _audit_moves(result, sent, moves)
    return result


def _audit_members(
    result: Audit, sent: Sent, customers: dict[str, Any], profiles: dict[str, Any], member: Any, recorded: Any
) -> None:
    for customer_id, outcome in sent.signups.items():
        result.sent["signup"] += 1
        member_id = member(customer_id)
        if member_id is not None and member_id in profiles:
            result.credited["signup"] += 1
        elif recorded(f'"{customer_id}"', "new_account_registration"):
            result.in_error_store["signup"] += 1
        elif not outcome.ok and customer_id not in customers:
            result.answered_error["signup"] += 1
        else:
            status = customers.get(customer_id, {}).get("status")
            result.lost.append(f"signup {customer_id}: status {status!r}, no error record")
    checks = (
        ("profile change", sent.profiles, "FirstName"),
        ("consent change", sent.consents, "EmailOptIn"),
    )
    for kind, changes_by_customer, attribute in checks:
        for customer_id, changes in changes_by_customer.items():
            result.sent[kind] += len(changes)
            acknowledged = [value for value, outcome in changes if outcome.ok]
            member_id = member(customer_id)
            on_platform = profiles.get(str(member_id), {}).get("attributes", {}).get(attribute)
            if member_id is None:
                result.not_for_points[kind] += len(changes)
            elif acknowledged and on_platform == acknowledged[-1]:
                result.credited[kind] += len(changes)
            elif recorded(f'"{customer_id}"', "account_update"):
                result.in_error_store[kind] += len(changes)
            else:
                result.lost.append(
                    f"{kind} {customer_id}: Talon.One has {on_platform!r}, sent {acknowledged}"
                )


def _audit_orders(
    result: Audit,
    sent: Sent,
    sessions: dict[str, Any],
    moves: dict[str, list[dict[str, Any]]],
    expected: dict[bool, int],
    member: Any,
    recorded: Any,
) -> None:
    closed = {"closed", "partially_returned", "cancelled"}
    for order_id, facts in sent.orders.items():
        result.sent["order"] += 1
        session = sessions.get(f"order-{order_id}")
        rows = moves.get(f"order-{order_id}", [])
        if session is not None and session.state in closed:
            result.credited["order"] += 1
            earned = [r["amount"] for r in rows if r["name"] == SPEND]
            redeemed = [r["amount"] for r in rows if r["name"] == REDEEM]
            hold = sent.holds.get(str(facts["hold"])) if facts["hold"] else None
            if earned != [expected[hold is not None]]:
                result.moved_twice.append(
                    f"order {order_id}: earned {earned}, expected {expected[hold is not None]}"
                )
            if redeemed != ([hold["points"]] if hold else []):
                result.moved_twice.append(
                    f"order {order_id}: redeemed {redeemed}, hold {hold and hold['points']}"
                )
        elif recorded(order_id, "new_order"):
            result.in_error_store["order"] += 1
        elif member(facts["customer_id"]) is None or facts["outcome"].body.get("reason") in {
            "not_joined",
            "guest",
        }:
            result.not_for_points["order"] += 1
        elif not facts["outcome"].ok:
            result.answered_error["order"] += 1
        else:
            result.lost.append(
                f"order {order_id}: no closed session, no error record ({facts['outcome'].body})"
            )
    for kind, operations in (("refund", sent.refunds), ("cancel", sent.cancels)):
        for op_id, facts in operations.items():
            result.sent[kind] += 1
            order_id = facts.get("order_id", op_id)
            session = sessions.get(f"order-{order_id}")
            outcome = facts["outcome"]
            returned = sum(ln.returned for ln in session.lines if ln.sku == SKU_REFUNDED) if session else 0
            done = session is not None and (
                session.state == "cancelled" if kind == "cancel" else returned > 0
            )
            if kind == "refund" and returned > 1:
                result.moved_twice.append(f"refund {op_id}: {returned} items returned, 1 sent")
            if done:
                result.credited[kind] += 1
            elif recorded(op_id, "new_order"):
                result.in_error_store[kind] += 1
            elif session is None or outcome.body.get("status") == "not_applicable":
                result.not_for_points[kind] += 1
            elif not outcome.ok:
                result.answered_error[kind] += 1
            else:
                result.lost.append(
                    f"{kind} {op_id} of {order_id}: not on Talon.One, no error ({outcome.body})"
                )
    for facts in sent.holds.values():
        result.sent["redemption hold"] += 1
        order_id = facts.get("order_id")
        if order_id and f"order-{order_id}" in sessions:
            result.credited["redemption hold"] += 1
        elif order_id and recorded(order_id, "new_order"):
            result.in_error_store["redemption hold"] += 1
        else:
            result.not_for_points["redemption hold"] += 1


def _audit_moves(result: Audit, sent: Sent, moves: dict[str, list[dict[str, Any]]]) -> None:
    asked = {f"order-{order_id}" for order_id in sent.orders}
    for session_id, rows in moves.items():
        if session_id not in asked:
            result.moved_twice.append(f"session {session_id}: moved points, no operation asked for it")
            continue
        added = sum(r["amount"] for r in rows if r["name"] == SPEND)
        taken = sum(r["amount"] for r in rows if r["name"] == "Rollback added")
        deducted = sum(r["amount"] for r in rows if r["name"] == REDEEM)
        given = sum(r["amount"] for r in rows if r["name"] == "Rollback redeemed")
        if taken > added or given > deducted:
            result.moved_twice.append(
                f"session {session_id}: rolled back {taken}/{given} of {added}/{deducted}"
            )


def traces(bench: BenchStack, app: Any, findings: list[str]) -> list[str]:
    """The Talon.One calls about each customer named in a finding (by its member id)."""
    import re

    customers = _customers(bench)
    lines = []
    for finding in findings:
        for customer_id in sorted(set(re.findall(r"soak-[0-9a-f]{12}", finding))):
            member_id = str(customers.get(customer_id, {}).get("member_id") or "")
            lines.append(f"Talon.One calls for {customer_id} (member {member_id or '-'}):")
            lines += [
                f"  #{n} {c.method} {c.path} key={c.idempotency_key} fault={c.fault} status={c.status}"
                for n, c in enumerate(app.calls())
                if member_id and member_id in c.path
            ]
        for order_id in sorted(set(re.findall(r"\bo-[0-9a-f]{12}", finding))):
            lines.append(f"Talon.One calls for order {order_id}:")
            lines += [
                f"  #{n} {c.method} {c.path} key={c.idempotency_key} fault={c.fault} status={c.status}"
                for n, c in enumerate(app.calls())
                if order_id in c.path
            ]
    return lines


def run_talon_one(args: argparse.Namespace) -> dict[str, Any]:
    from tests.fake_talon_one import DEFAULT_API_KEY, PROGRAM_ID, FakeTalonOne, serve

    app = FakeTalonOne()
    server = serve(app)
    env = {
        "PLATFORM_READ_TIMEOUT_SECONDS": "0.5",
        "PLATFORM_CONNECT_TIMEOUT_SECONDS": "0.5",
        "PLATFORM_CALL_BUDGET_SECONDS": "2.5",
        "PLATFORM_BACKOFF_BASE_SECONDS": "0.05",
        "PLATFORM_BACKOFF_MAX_SECONDS": "0.2",
        "ORDER_SYNC_DEADLINE_SECONDS": "1.5",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
    params = {
        "PlatformAdapter": "talon_one",
        "TalonOneBaseUrl": server.url,
        "TalonOneApplicationId": "1",
        "TalonOneLoyaltyProgramId": str(PROGRAM_ID),
    }
    faults = Faults(args.aws_fault_rate, seed=args.seed)
    faults.enabled = False
    bench = BenchStack(env_overrides=env, parameter_overrides=params, faults=faults)
    started = time.perf_counter()
    with output_to(args.log) as console, bench:
        provisioned = bench.stack.provisioned
        assert provisioned is not None
        bench.aws("secretsmanager").put_secret_value(
            SecretId=provisioned.secrets["PlatformSecret"],
            SecretString=json.dumps({"api_key": DEFAULT_API_KEY}),
        )
        sent = Sent()
        with bench.client() as client:
            probe = Storefront(client)
            probe.signup("soak-probe", "soak-probe@example.com")
            bench.drain()
            expected = _expected_points(probe, "soak-probe")
        rng = random.Random(args.seed)  # noqa: S311
        customers = [_id("soak") for _ in range(args.customers)]
        print(f"workload: {len(customers)} customers on Talon.One, faults on", file=sys.stderr, flush=True)
        faults.enabled = True
        with TalonOneChaos(app, args.platform_fault_rate, args.seed) as chaos:
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
        result = audit_talon_one(bench, app, sent, expected)
        found = traces(bench, app, [*result.lost, *result.moved_twice])
        for line in found:
            print(line)
        server_errors = sum(o.server_errors for o in [*sent.signups.values()])
        server_errors += sum(o["outcome"].server_errors for o in sent.orders.values())
    server.stop()
    problems = app.violations + [f"crash: {c}" for c in app.crashes]
    return {
        "platform": "talon-one",
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
        "platform_traces": found,
        "schema_violations": problems[:20],
        "expected_points": {"plain": expected[False], "with_10_redeemed": expected[True]},
    }
