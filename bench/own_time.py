"""Own time per operation: a warm invocation's duration minus the time it spent inside
AWS calls, for the storefront's hot operations.

The harness times every invocation (around the runtime's handler call) and adds up, from
botocore's ``provide-client-params`` (the first event of a client method) to ``after-call``
(or ``after-call-error``), the time of every AWS call made meanwhile
(``BenchStack.aws_time``). Operations run one at a time with the queues drained before
each, so the AWS time of an invocation is its own (a platform call the order service runs
on its deadline thread included). What is left is the function's own work: parsing,
validation, signature check, rules, serialisation, logging, metrics.
"""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Callable
from typing import Any

from bench.harness import BenchStack
from bench.storefront import Storefront, basket

# operation -> the function whose invocation is measured
FUNCTIONS = {
    "login summary": "MembershipApiFunction",
    "quote": "CheckoutApiFunction",
    "hold redemption": "CheckoutApiFunction",
    "order (credited at once)": "CheckoutApiFunction",
    "refund (partial)": "CheckoutApiFunction",
}
TARGET_MEDIAN_MS = 5.0


def _new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def own_time(bench: BenchStack, repeats: int) -> dict[str, Any]:
    """Median and p99 of (duration - time inside AWS calls) per operation, over ``repeats``
    warm invocations each."""
    sf = Storefront(bench.client())
    customers = [_new_id("own") for _ in range(2)]
    for customer in customers:
        sf.signup(customer, f"{customer}@example.com")
    bench.drain()
    for _ in range(1 + repeats // 25):  # 30 points each: enough to hold 1 point per repeat
        for customer in customers:  # every container and cache warm too
            sf.order(customer, _new_id("warm"), basket())
    member, buyer = customers

    def refund_setup() -> Callable[[], Any]:
        order_id = _new_id("order")
        sf.order(buyer, order_id, basket())
        return lambda: sf.refund(order_id, _new_id("refund"), [{"sku": "SKU-0000", "quantity": 1}])

    operations: dict[str, Callable[[], Callable[[], Any]]] = {
        "login summary": lambda: lambda: sf.summary(member),
        "quote": lambda: lambda: sf.quote(member, basket()),
        "hold redemption": lambda: lambda: sf.hold(member, _new_id("cart"), 1),
        "order (credited at once)": lambda: lambda: sf.order(buyer, _new_id("order"), basket()),
        "refund (partial)": refund_setup,
    }
    results: dict[str, Any] = {}
    for name, setup in operations.items():
        function = FUNCTIONS[name]
        own: list[float] = []
        durations: list[float] = []
        statuses: set[int] = set()
        for _ in range(repeats):
            action = setup()
            bench.drain()
            before = len(bench.invocations[function])
            outcome = action()
            statuses.add(outcome.status)
            runs = list(
                zip(
                    bench.invocations[function][before:],
                    bench.aws_time[function][before:],
                    strict=True,
                )
            )
            for duration, aws in runs:
                durations.append(duration)
                own.append(duration - aws)
            if name == "hold redemption" and outcome.ok:
                # Released (not measured): open holds would pile up in the member's partition
                # and every later hold would read them all.
                sf.release(str(outcome.body["redemption_id"]))
        results[name] = {
            "function": function,
            "invocations": len(own),
            "statuses": sorted(statuses),
            "own_median_ms": round(statistics.median(own), 2),
            "own_p99_ms": round(_percentile(own, 99), 2),
            "duration_median_ms": round(statistics.median(durations), 2),
            "aws_median_ms": round(statistics.median(d - o for d, o in zip(durations, own, strict=True)), 2),
            "target_median_ms": TARGET_MEDIAN_MS,
        }
    return results
