"""Faults the fake platform injects on demand (Python API or POST /_fake/faults)."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

FaultKind = Literal["latency", "timeout", "status", "throttle", "malformed", "refuse", "disconnect"]

_DEFAULT_STATUS: dict[str, int] = {"status": 503, "throttle": 429, "refuse": 422}
_DEFAULT_CODE: dict[int, str] = {
    400: "validation_error",
    404: "member_not_found",
    409: "duplicate_member",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
}


@dataclass(frozen=True)
class Fault:
    """What to do to the next ``times`` requests matching ``operation`` (an operationId of
    the contract; None = any operation).

    kinds:
    - latency: wait ``seconds``, then answer normally.
    - timeout: wait ``seconds`` (set it past the client's read timeout), then carry on; the
      answer goes to a client that has given up. With ``after_effect`` the platform does
      the work first, so only the answer is lost.
    - status: answer ``status`` (5xx by default) with an error body (and ``retry_after``).
    - throttle: answer 429 with ``Retry-After: retry_after``.
    - malformed: answer the operation's success status with ``body`` (default: JSON of the
      wrong shape); for no-content operations (204) a 200 with that body.
    - refuse: a validation refusal: ``status`` (422) with ``code`` and ``field``.
    - disconnect: close the connection without answering.
    Faults act before the platform does the work unless ``after_effect`` is set (the work
    is done and remembered for the idempotency key, then the answer is replaced).
    """

    kind: FaultKind
    operation: str | None = None
    times: int = 1
    seconds: float = 0.0
    status: int | None = None
    code: str | None = None
    field: str | None = None
    retry_after: str | None = None
    body: str | None = None
    after_effect: bool = False

    @property
    def http_status(self) -> int:
        return self.status if self.status is not None else _DEFAULT_STATUS.get(self.kind, 503)

    @property
    def error_code(self) -> str:
        if self.code:
            return self.code
        status = self.http_status
        return _DEFAULT_CODE.get(status, "unavailable" if status >= 500 else "validation_error")

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        allowed = set(cls.__dataclass_fields__)
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        kind = data.get("kind")
        if kind not in ("latency", "timeout", "status", "throttle", "malformed", "refuse", "disconnect"):
            raise ValueError(f"unknown fault kind: {kind!r}")
        return cls(**data)


@dataclass
class _Queued:
    fault: Fault
    remaining: int


@dataclass
class FaultPlan:
    """Queued faults, consumed first-in first-out by matching requests. Thread-safe."""

    _queued: list[_Queued] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, fault: Fault) -> None:
        if fault.times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._queued.append(_Queued(fault, fault.times))

    def clear(self) -> None:
        with self._lock:
            self._queued.clear()

    def take(self, operation: str) -> Fault | None:
        """The fault for this request, if any (counts one use)."""
        with self._lock:
            for entry in self._queued:
                if entry.fault.operation in (None, operation):
                    entry.remaining -= 1
                    if entry.remaining == 0:
                        self._queued.remove(entry)
                    return entry.fault
        return None

    def pending(self) -> list[tuple[Fault, int]]:
        with self._lock:
            return [(entry.fault, entry.remaining) for entry in self._queued]
