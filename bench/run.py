"""``make bench``: cold-start proxy, AWS calls per business operation, order-to-points
latency and sustained orders per second through the local stack, and the cost of one
million orders on AWS. Prints a table and writes bench/results.json.

    python -m bench.run [--quick] [--runs N] [--own-repeats N] [--orders N] [--seconds S] [--threads N]
                        [--skip-cold-start] [--skip-orders]

Figures come from this machine and the local stack (moto in a process of its own), so
latencies and throughput are a floor for what AWS does, not a forecast; call counts and
the cost model carry over as they are. Nothing here is asserted: it is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import coldstart, cost, member_import, own_time
from bench.harness import BenchStack, CallLog, measure, output_to
from bench.storefront import Outcome, Storefront, basket

RESULTS = Path(__file__).with_name("results.json")

# The fewest AWS calls each operation needs (the floors of issue 19), and what they are
# (the measured count sits beside it in the table). Background work the operation queues
# is included.
MINIMUM_CALLS: dict[str, tuple[int, str]] = {
    "signup (auto-join, incl. worker)": (
        10,
        "API: idempotency claim + save, customer put, membership queue send, sync queue send (P3/P4 "
        "first push); membership worker: customer read, one TransactWriteItems creating member + card + "
        "email claim, customer link update; sync worker: customer read, sync-state write",
    ),
    "login summary": (2, "customer record + balance snapshot (API.md: one or two reads, no platform call)"),
    "quote": (
        2,
        "customer read, the member's ledger partition (read-only: no idempotency record, API.md's "
        "Idempotency-Key accepted and not needed)",
    ),
    "hold redemption": (
        4,
        "idempotency claim, customer read, the member's ledger partition (its open holds name their "
        "cart), one TransactWriteItems (hold + account + the cart's previous hold released + both "
        "redemption records + the claim completed with the answer)",
    ),
    "order (credited at once)": (
        5,
        "idempotency claim + save, customer read, the member's ledger partition, one "
        "TransactWriteItems (entry + account + hold capture + the bridge's order record with its "
        "credit); the save rides in that transaction too, so 4 are made",
    ),
    "refund (partial)": (
        4,
        "idempotency claim, the order's record + the ledger's order in one BatchGetItem, the member's "
        "partition, one TransactWriteItems (entry + account + order + reversal record + the claim "
        "completed with the answer)",
    ),
    "profile change (incl. sync worker)": (
        7,
        "API: idempotency claim + save, customer read, conditional update, FIFO send; worker: "
        "customer read, platform profile update (the built-in ledger: its read + one transaction "
        "that writes the sync state too, so 8 are made)",
    ),
}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def _new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _signup_joined(bench: BenchStack, sf: Storefront, count: int) -> list[str]:
    customers = [_new_id("bench") for _ in range(count)]
    for customer_id in customers:
        sf.signup(customer_id, f"{customer_id}@example.com")
    bench.drain()
    return customers


# ---------------------------------------------------------------- AWS calls per operation


def calls_per_operation(bench: BenchStack, repeats: int) -> dict[str, Any]:
    sf = Storefront(bench.client())
    warm = _signup_joined(bench, sf, 2)  # warm every container and cache first
    sf.order(warm[0], _new_id("warm"), basket())
    sf.update_profile(warm[0], {"first_name": "Warm"})
    bench.drain()

    def signup() -> Outcome:
        customer = _new_id("calls")
        return sf.signup(customer, f"{customer}@example.com")

    def summary() -> Outcome:
        return sf.summary(warm[0])

    def quote() -> Outcome:
        return sf.quote(warm[0], basket())

    def hold() -> Outcome:
        return sf.hold(warm[0], _new_id("cart"), 10)

    def order() -> Outcome:
        return sf.order(warm[1], _new_id("order"), basket())

    def refund() -> Outcome:
        order_id = _new_id("order")
        sf.order(warm[1], order_id, basket())
        bench.drain()
        return measure(
            bench, lambda: sf.refund(order_id, _new_id("refund"), [{"sku": "SKU-0000", "quantity": 1}])
        )

    def profile() -> Outcome:
        return sf.update_profile(warm[0], {"first_name": _new_id("Name")[:20]})

    operations: dict[str, Callable[[], Any]] = {
        "signup (auto-join, incl. worker)": signup,
        "login summary": summary,
        "quote": quote,
        "hold redemption": hold,
        "order (credited at once)": order,
        "refund (partial)": refund,
        "profile change (incl. sync worker)": profile,
    }
    results: dict[str, Any] = {}
    for name, action in operations.items():
        logs: list[CallLog] = []
        statuses: list[int] = []
        invocations: dict[str, int] = {}
        for _ in range(repeats):
            if name.startswith("refund"):
                outcome, log, invocations = action()
            else:
                outcome, log, invocations = measure(bench, action)
            logs.append(log)
            statuses.append(outcome.status)
        per_call: dict[str, float] = {}
        for log in logs:
            for call, count in log.calls.items():
                per_call[call] = per_call.get(call, 0) + count / len(logs)
        minimum, why = MINIMUM_CALLS[name]
        results[name] = {
            "statuses": sorted(set(statuses)),
            "measured": round(sum(per_call.values()), 1),
            "minimum": minimum,
            "minimum_is": why,
            "calls": {k: round(v, 1) for k, v in sorted(per_call.items())},
            "dynamodb_rru": round(statistics.mean(log.rru for log in logs), 2),
            "dynamodb_wru": round(statistics.mean(log.wru for log in logs), 2),
            "invocations": invocations,
        }
    return results


# ---------------------------------------------------------------- latency and throughput


def _order_to_points(bench: BenchStack, sf: Storefront, customer: str) -> tuple[float, Outcome]:
    """Seconds from sending the order to its points being visible to the storefront."""
    started = time.perf_counter()
    outcome = sf.order(customer, _new_id("lat"), basket())
    if outcome.body.get("status") == "queued":  # settled by the worker: poll the summary
        before = outcome.body.get("balance") or 0
        while time.perf_counter() - started < 60:
            summary = sf.summary(customer)
            if (summary.body.get("points") or {}).get("balance", 0) > before:
                break
            time.sleep(0.02)
    return time.perf_counter() - started, outcome


def latency(bench: BenchStack, orders: int) -> dict[str, Any]:
    sf = Storefront(bench.client())
    customers = _signup_joined(bench, sf, 10)
    before_inv = {k: len(v) for k, v in bench.invocations.items()}
    samples: list[float] = []
    statuses: dict[str, int] = {}
    for i in range(orders):
        seconds, outcome = _order_to_points(bench, sf, customers[i % len(customers)])
        samples.append(seconds * 1000)
        key = str(outcome.body.get("status", outcome.status))
        statuses[key] = statuses.get(key, 0) + 1
    return {
        "orders": orders,
        # One order at a time: these are the functions' own durations (no waiting for a
        # busy container), what Lambda would bill.
        "median_invocation_ms": _median_durations(bench, before_inv),
        "p50_ms": round(_percentile(samples, 50), 1),
        "p99_ms": round(_percentile(samples, 99), 1),
        "max_ms": round(max(samples), 1),
        "outcomes": statuses,
    }


def throughput(bench: BenchStack, seconds: float, threads: int) -> dict[str, Any]:
    sf = Storefront(bench.client())
    customers = _signup_joined(bench, sf, 4 * threads)
    done: list[int] = []
    failed: list[int] = []
    stop = time.perf_counter() + seconds
    before_inv = {k: len(v) for k, v in bench.invocations.items()}

    def worker(index: int) -> None:
        with bench.client() as client:
            store = Storefront(client)
            n = 0
            while time.perf_counter() < stop:
                outcome = store.order(
                    customers[(index + n * threads) % len(customers)], _new_id("tp"), basket()
                )
                (done if outcome.body.get("status") == "credited" else failed).append(1)
                n += 1

    started = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - started
    bench.drain()
    return {
        "threads": threads,
        "seconds": round(elapsed, 1),
        "orders_credited": len(done),
        "orders_not_credited": len(failed),
        "orders_per_second": round(len(done) / elapsed, 1),
        # Includes waiting for a free container when all of a function's are busy.
        "median_invocation_ms_with_queueing": _median_durations(bench, before_inv),
    }


def _median_durations(bench: BenchStack, before: dict[str, int]) -> dict[str, float]:
    return {
        k: round(statistics.median(v[before.get(k, 0) :]), 1)
        for k, v in list(bench.invocations.items())
        if len(v) > before.get(k, 0)
    }


# ---------------------------------------------------------------- cost


def cost_per_million(
    bench: BenchStack, order_calls: dict[str, Any], durations: dict[str, float]
) -> dict[str, Any]:
    specs = bench.stack.runtime.containers if bench.stack.runtime else {}
    calls = order_calls["calls"]
    per_order = cost.PerOrder(
        lambda_invocations={k: float(v) for k, v in order_calls["invocations"].items()},
        lambda_billed_ms={
            k: float(cost.billed_ms(durations.get(k, 1.0))) for k in order_calls["invocations"]
        },
        lambda_memory_mb={k: c.spec.memory for k, c in specs.items()},
        http_api_requests=1.0,
        sqs_standard_requests=sum(v for k, v in calls.items() if k.startswith("sqs.")),
        dynamodb_rru=order_calls["dynamodb_rru"],
        dynamodb_wru=order_calls["dynamodb_wru"],
        ses_emails=calls.get("ses.SendEmail", 0) + calls.get("ses.SendRawEmail", 0),
        secretsmanager_calls=calls.get("secretsmanager.GetSecretValue", 0),
    )
    return {
        "region": cost.REGION,
        "prices_as_of": cost.PRICES_AS_OF,
        "prices": cost.PRICES,
        "per_order": {
            "lambda_invocations": per_order.lambda_invocations,
            "lambda_billed_ms": per_order.lambda_billed_ms,
            "dynamodb_rru": per_order.dynamodb_rru,
            "dynamodb_wru": per_order.dynamodb_wru,
            "sqs_requests": per_order.sqs_standard_requests,
        },
        "usd_per_million_orders": cost.per_million(per_order),
        "assumptions": [
            "the order is credited within the request (the common case); a queued order adds one SQS "
            "send, the event source's receive and delete (about 3 requests per order at batch size 1) "
            "and an order_worker invocation",
            "Lambda durations are the warm medians of the latency run (one order at a time) against "
            "moto in a process beside them on a shared CPU; real DynamoDB round trips are single-digit ms, "
            "so this overstates the compute line",
            "DynamoDB units are computed from the items written and read (1 KB per write unit, "
            "updates and deletes at their minimum, transactions x2 per item; 4 KB per read unit, "
            "half for an eventually consistent read)",
            "excluded: CloudWatch Logs ingestion, X-Ray traces, data transfer, storage, free tiers",
        ],
    }


# ---------------------------------------------------------------- output


def _table(title: str, header: list[str], rows: list[list[Any]]) -> str:
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows, strict=False)]
    line = "  ".join("{:<" + str(w) + "}" for w in widths)
    out = [title, line.format(*header), line.format(*["-" * w for w in widths])]
    out += [line.format(*[str(x) for x in row]) for row in rows]
    return "\n".join(out)


def report(results: dict[str, Any]) -> str:
    parts = []
    cold = results["cold_start"]
    rows = []
    for fn, v in cold["functions"].items():
        if "import_ms" not in v:
            rows.append([fn, "error", v["error"], "", "", "", ""])
            continue
        felt = v.get("user_felt") or {}
        rows.append(
            [
                fn,
                f"{v['import_ms']:.0f}",
                f"{v['ratio_to_boto3']:.2f}",
                f"{felt['user_felt_ms']:.0f}" if "user_felt_ms" in felt else felt.get("error", "-"),
                f"{felt['ratio_to_boto3_get_item']:.2f}" if "ratio_to_boto3_get_item" in felt else "-",
                f"{felt['ratio_to_floor']:.2f} ({felt['floor']})" if "ratio_to_floor" in felt else "-",
                ",".join(felt.get("first_status", [])),
            ]
        )
    floors = cold.get("floor_ms") or {}
    floor_ratios = cold.get("floor_ratio_to_boto3_get_item") or {}
    floor_note = "".join(
        f"; {kind} floor {ms:.0f} ms = x{floor_ratios.get(kind, 0):.2f} boto3+GetItem"
        for kind, ms in floors.items()
    )
    parts.append(
        _table(
            f"Cold start: medians over {cold['runs']} fresh interpreters. Import only, against `import "
            f"boto3` ({cold['boto3_import_ms']:.0f} ms); user-felt = import + first invocation of a real "
            f"event on moto, against `import boto3` + one GetItem ({cold.get('boto3_get_item_ms', 0):.0f} "
            f"ms), and against the fixed stack's floor (bench/coldstart.py){floor_note}",
            ["function", "import ms", "x boto3", "user-felt ms", "x boto3+GetItem", "x floor", "first"],
            rows,
        )
    )
    if "aws_calls" in results:
        rows = [
            [
                op,
                v["measured"],
                v["minimum"],
                f"{v['dynamodb_rru']}/{v['dynamodb_wru']}",
                ",".join(map(str, v["statuses"])),
            ]
            for op, v in results["aws_calls"].items()
        ]
        parts.append(
            _table(
                "AWS API calls per business operation",
                ["operation", "measured", "minimum", "RRU/WRU", "status"],
                rows,
            )
        )
    if "own_time" in results:
        rows = [
            [
                op,
                v["own_median_ms"],
                v["own_p99_ms"],
                v["duration_median_ms"],
                v["aws_median_ms"],
                v["invocations"],
            ]
            for op, v in results["own_time"].items()
        ]
        parts.append(
            _table(
                f"Own time per operation: warm invocation minus time inside AWS calls "
                f"(target median <= {own_time.TARGET_MEDIAN_MS:g} ms)",
                ["operation", "own median ms", "own p99 ms", "duration median ms", "in AWS median ms", "n"],
                rows,
            )
        )
    if "order_latency" in results:
        lat, tp = results["order_latency"], results["throughput"]
        parts.append(
            _table(
                "Orders through the local stack",
                ["figure", "value"],
                [
                    ["warm containers per function", results.get("containers_per_function", "?")],
                    ["order-to-points p50 (ms)", lat["p50_ms"]],
                    ["order-to-points p99 (ms)", lat["p99_ms"]],
                    ["orders measured", lat["orders"]],
                    [
                        f"sustained orders/s ({tp['threads']} threads, {tp['seconds']} s)",
                        tp["orders_per_second"],
                    ],
                ],
            )
        )
    if "member_import" in results:
        imp = results["member_import"]
        parts.append(
            _table(
                "Member import through the local stack (moto)",
                ["figure", "value"],
                [
                    ["lines", imp["lines"]],
                    ["created", imp["created"]],
                    ["lines/s (first run)", imp["lines_per_second"]],
                    ["lines/s (same file again)", imp["repeat_lines_per_second"]],
                ],
            )
        )
    if "bucket_import" in results:
        imp = results["bucket_import"]
        parts.append(
            _table(
                "Member import through the bucket (moto S3, MemberImportQueue, the worker)",
                ["figure", "value"],
                [
                    ["lines", imp["lines"]],
                    ["status", imp["status"]],
                    ["chunks", imp["chunks"]],
                    ["created", imp["created"]],
                    ["seconds (put to report)", imp["seconds"]],
                    ["lines/s", imp["lines_per_second"]],
                ],
            )
        )
    if "cost" in results:
        usd = results["cost"]["usd_per_million_orders"]
        parts.append(
            _table(
                f"Cost per 1 million orders, {results['cost']['region']} ({results['cost']['prices_as_of']})",
                ["service", "USD"],
                [[k, f"{v:.2f}"] for k, v in usd.items()],
            )
        )
    return "\n\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small numbers (a smoke run)")
    parser.add_argument("--runs", type=int, default=5, help="fresh interpreters per cold-start figure")
    parser.add_argument("--repeats", type=int, default=3, help="repetitions per AWS-call figure")
    parser.add_argument("--own-repeats", type=int, default=100, help="warm invocations per own-time figure")
    parser.add_argument("--orders", type=int, default=300, help="orders for the latency percentiles")
    parser.add_argument("--seconds", type=float, default=20.0, help="duration of the throughput run")
    parser.add_argument("--threads", type=int, default=4, help="storefront threads in the throughput run")
    parser.add_argument(
        "--containers", type=int, default=None, help="warm containers per function (local stack default: 4)"
    )
    parser.add_argument("--skip-cold-start", action="store_true")
    parser.add_argument(
        "--member-import-lines", type=int, default=1000, help="lines of the member import run (0: skip)"
    )
    parser.add_argument(
        "--bucket-import-lines",
        type=int,
        default=1000,
        help="lines of the file put in the member import bucket (0: skip; 100000 runs long on moto)",
    )
    parser.add_argument(
        "--skip-orders", action="store_true", help="no latency, throughput or cost (calls and own time only)"
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.repeats, args.orders, args.seconds = 2, 1, 30, 3.0
        args.own_repeats = 20

    results: dict[str, Any] = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
    }
    print("cold-start proxy ...", file=sys.stderr, flush=True)
    results["cold_start"] = (
        {"runs": 0, "boto3_import_ms": 0.0, "functions": {}}
        if args.skip_cold_start
        else coldstart.measure(args.runs)
    )
    log_file = Path(__file__).resolve().parents[1] / ".local" / "bench.log"  # git-ignored
    log_file.parent.mkdir(parents=True, exist_ok=True)
    print(f"local stack (function logs in {log_file}) ...", file=sys.stderr, flush=True)
    if args.containers is not None:
        os.environ["BRIDGE_LOCAL_CONTAINERS"] = str(args.containers)  # read by the local stack
    with output_to(log_file) as console, BenchStack() as bench:
        mode = bench.stack.runtime.mode if bench.stack.runtime else "?"
        results["local_runtime_mode"] = mode
        results["containers_per_function"] = (
            bench.stack.runtime.containers_per_function if bench.stack.runtime else 0
        )
        if mode != "shared":
            print(
                "warning: functions have different environments, so the local runtime resets the "
                "core caches around every invocation; AWS call counts include rebuilt clients and "
                "re-read secrets that a warm Lambda would not repeat",
                file=console,
            )
        print("AWS calls per operation ...", file=console)
        results["aws_calls"] = calls_per_operation(bench, args.repeats)
        print("own time per operation ...", file=console)
        results["own_time"] = own_time.own_time(bench, args.own_repeats)
        if not args.skip_orders:
            print("order-to-points latency ...", file=console)
            results["order_latency"] = latency(bench, args.orders)
            print("throughput ...", file=console)
            results["throughput"] = throughput(bench, args.seconds, args.threads)
            results["cost"] = cost_per_million(
                bench,
                results["aws_calls"]["order (credited at once)"],
                results["order_latency"]["median_invocation_ms"],
            )
        if args.member_import_lines > 0:
            print("member import ...", file=console)
            results["member_import"] = member_import.measure(bench, args.member_import_lines)
        if args.bucket_import_lines > 0:
            print("member import through the bucket ...", file=console)
            results["bucket_import"] = member_import.measure_bucket(bench, args.bucket_import_lines)
    args.output.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(report(results))
    print(f"\nwrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
