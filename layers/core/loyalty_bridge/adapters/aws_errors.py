"""botocore failures -> domain errors, by AWS error code (never by message text).

Throttling, server errors and network trouble are Retryable (the caller's queue or
client tries again); anything else is Permanent (configuration or input a human must fix).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn

from botocore.exceptions import BotoCoreError, ClientError

from loyalty_bridge import errors

RETRYABLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalError",
        "InternalFailure",
        "InternalServiceError",
        "InternalServerError",
        "KMSThrottlingException",
        "RequestTimeout",
        "RequestTimeoutException",
        "SlowDown",
    }
)


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def unless_condition_failed[T](
    call: Callable[[], T], fail: Callable[[ClientError | BotoCoreError], NoReturn]
) -> T | None:
    """``call()``'s answer, or None when DynamoDB refused the request's condition
    (ConditionalCheckFailedException); any other AWS failure goes to ``fail``."""
    try:
        return call()
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return None
        fail(exc)
    except BotoCoreError as exc:
        fail(exc)


def raise_domain_error(exc: ClientError | BotoCoreError, what: str) -> NoReturn:
    """Re-raise an AWS SDK failure of ``what`` (e.g. "sqs send") as Retryable or Permanent."""
    if isinstance(exc, BotoCoreError):
        raise errors.Retryable(f"{what} unreachable", error_type=type(exc).__name__) from exc
    code = error_code(exc)
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    if code in RETRYABLE_CODES or status >= 500:
        raise errors.Retryable(f"{what} temporarily unavailable", aws_code=code) from exc
    raise errors.Permanent(f"{what} refused the request", aws_code=code) from exc


def code_of(exc: BaseException) -> str:
    """The AWS error code of any exception ("" when it is not an AWS ClientError)."""
    return error_code(exc) if isinstance(exc, ClientError) else ""


def raise_if_retryable(exc: BaseException, what: str) -> None:
    """Raise Retryable for throttling, 5xx and network trouble; return for anything else
    (the caller decides what a refusal such as a failed condition means)."""
    if isinstance(exc, BotoCoreError):
        raise errors.Retryable(f"{what} unreachable", error_type=type(exc).__name__) from exc
    if isinstance(exc, ClientError):
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if error_code(exc) in RETRYABLE_CODES or status >= 500:
            raise errors.Retryable(f"{what} temporarily unavailable", aws_code=error_code(exc)) from exc


def batch_get(
    client: Any, request: dict[str, dict[str, Any]], *, what: str, tries: int = 3
) -> dict[str, list[dict[str, Any]]]:
    """One BatchGetItem of ``request`` (its RequestItems), asked again for the keys it
    leaves unprocessed (with a short, growing pause): the items found, raw, by table.
    Errors.Retryable when keys are still unprocessed after ``tries``."""
    found: dict[str, list[dict[str, Any]]] = {}
    for attempt in range(tries):
        try:
            answer = client.batch_get_item(RequestItems=request)
        except (ClientError, BotoCoreError) as exc:
            raise_domain_error(exc, what)
        for table, items in answer.get("Responses", {}).items():
            found.setdefault(table, []).extend(items)
        request = dict(answer.get("UnprocessedKeys") or {})
        if not request:
            return found
        time.sleep(0.01 * 2**attempt)
    raise errors.Retryable(f"{what}: reads throttled")


def get_many(
    client: Any, wanted: Sequence[Mapping[str, Any]], *, what: str, tries: int = 8
) -> list[dict[str, Any] | None]:
    """Consistent reads of ``wanted`` (``{"TableName", "Key"}`` each, from any tables) in one
    BatchGetItem (its unprocessed keys asked again, ``batch_get``): the raw items in the
    order asked, None for each not found."""
    request: dict[str, dict[str, Any]] = {}
    for read in wanted:
        keys = request.setdefault(read["TableName"], {"Keys": [], "ConsistentRead": True})["Keys"]
        if read["Key"] not in keys:  # BatchGetItem refuses a key asked twice
            keys.append(read["Key"])
    if not request:
        return []
    key_of = {table: sorted(reads["Keys"][0]) for table, reads in request.items()}
    answer = batch_get(client, request, what=what, tries=tries)
    found = {
        (table, _key_text(item, key_of[table])): item for table, items in answer.items() for item in items
    }
    return [found.get((table := read["TableName"], _key_text(read["Key"], key_of[table]))) for read in wanted]


def _key_text(item: Mapping[str, Any], names: Sequence[str]) -> str:
    """An item's key (its attributes ``names``) as text, to match answers to reads."""
    return json.dumps({name: item.get(name) for name in names}, sort_keys=True)
