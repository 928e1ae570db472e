"""Admin API (admin-scoped keys): list the failures that need a human, newest first and
paged (contact data masked), read one in full to fix it by hand, replay one after a manual
fix (P2), or close one fixed by hand. Card stock and the card lifecycle (A10: block,
replace). Stores and staff users (R6), the daily statistics per store and program-wide
(R6), adjustments of a customer's points (R7), and the program as versioned data (R9):
read, replace, list its versions. A customer's data rights (D1, D2): export everything
held about them, erase it (the money trail kept under a pseudonym)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from loyalty_bridge import wiring
from loyalty_bridge.handler_services import HandlerServices, Wired
from loyalty_bridge.http_api import current_idempotency_key, current_key_id, make_resolver
from loyalty_bridge.models.activity import MAX_STATS_DAYS, Adjustment, AdjustmentResult, StatsReport
from loyalty_bridge.models.api_admin import (
    CategoryName,
    ErrorDetail,
    ErrorPage,
    ReplayAccepted,
    ResolvedError,
    ResolveError,
    StatusName,
)
from loyalty_bridge.models.api_membership import CustomerId
from loyalty_bridge.models.bucket_import import ImportReport
from loyalty_bridge.models.card_lifecycle import BlockCard, CardNumberPath, CardSummary, ReplaceCard
from loyalty_bridge.models.card_stock import (
    MAX_CARDS_PER_REQUEST,
    MAX_IMPORT_BODY_BYTES,
    BatchId,
    CardImportRequest,
    CardImportResult,
)
from loyalty_bridge.models.data_rights import CustomerExport, EraseRequest, ErasureRecord
from loyalty_bridge.models.member_import import (
    FIELDS,
    MAX_LINES_PER_REQUEST,
    ImportId,
    MemberImportResult,
)
from loyalty_bridge.models.member_import import MAX_IMPORT_BODY_BYTES as MAX_MEMBER_IMPORT_BYTES
from loyalty_bridge.models.program import ProgramVersion, ProgramVersionPage
from loyalty_bridge.models.stores import (
    DirectoryId,
    PutStaff,
    PutStore,
    StaffMember,
    StaffPage,
    Store,
    StorePage,
)
from loyalty_bridge.observability import logger, metrics
from loyalty_bridge.program.earn_rules import ProgramRules
from loyalty_bridge.services.admin import error_detail, error_view
from loyalty_bridge.services.card_stock import import_request
from loyalty_bridge.services.member_import import file_format

CARD_IMPORT = "/v1/admin/cards/import"
MEMBER_IMPORT = "/v1/admin/members/import"

app = make_resolver(
    scope="admin", body_limits={CARD_IMPORT: MAX_IMPORT_BODY_BYTES, MEMBER_IMPORT: MAX_MEMBER_IMPORT_BYTES}
)


class Services(HandlerServices):
    """The services the routes call: from wiring unless a test hands in fake-backed ones."""

    admin_errors = Wired(wiring.admin_errors)
    card_lifecycle = Wired(wiring.card_lifecycle)
    card_stock = Wired(wiring.card_stock)
    member_import = Wired(wiring.member_import)
    bucket_import = Wired(wiring.bucket_import)
    store_directory = Wired(wiring.store_directory)
    program_admin = Wired(wiring.program_admin)
    adjustments = Wired(wiring.adjustment_service)
    stats = Wired(wiring.stats_service)
    exporter = Wired(wiring.customer_exporter)
    eraser = Wired(wiring.customer_eraser)


services = Services()

ErrorId = Annotated[str, Path(min_length=1, max_length=400)]


@app.get("/v1/admin/errors")
def list_errors(
    category: Annotated[CategoryName | None, Query()] = None,
    status: Annotated[StatusName | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
) -> ErrorPage:
    records, next_cursor = services.admin_errors.list(
        category=category, status=status, limit=limit, cursor=cursor or None
    )
    return ErrorPage(errors=[error_view(record) for record in records], next_cursor=next_cursor)


@app.get("/v1/admin/errors/<error_id>")
def get_error(error_id: ErrorId) -> ErrorDetail:
    record = services.admin_errors.get(error_id)
    # An audit line with ids only: what was read (personal data) never goes to the logs.
    logger.info(
        "error read in full by an admin", extra={"error_id": record.error_id, "key_id": current_key_id(app)}
    )
    return error_detail(record)


@app.post(
    "/v1/admin/errors/<error_id>/replay",
    responses={
        202: {
            "description": "The failed message is queued again",
            "content": {"application/json": {"model": ReplayAccepted}},
        }
    },
)
def replay_error(error_id: ErrorId) -> Response[ReplayAccepted]:
    record, queue = services.admin_errors.replay(error_id)
    body = ReplayAccepted(error_id=record.error_id, status=record.status, queue=queue)
    return Response(status_code=202, content_type="application/json", body=body)


@app.post("/v1/admin/errors/<error_id>/resolve")
def resolve_error(error_id: ErrorId, body: Annotated[ResolveError, Body()]) -> ResolvedError:
    record = services.admin_errors.resolve(error_id, note=body.note)
    return ResolvedError(error_id=record.error_id, status=record.status)


# ---------------------------------------------------------------- card stock (seed 000)

_IMPORT_BODY = {
    "required": True,
    "description": f"JSON, or text/csv with one number a line (header optional) and ?batch_id=; "
    f"at most {MAX_CARDS_PER_REQUEST} numbers and {MAX_IMPORT_BODY_BYTES // 1024} KiB a request",
    "content": {
        "application/json": {"schema": CardImportRequest.model_json_schema()},
        "text/csv": {"schema": {"type": "string", "examples": ["card_number\n6100000000000009\n"]}},
    },
}


@app.post(CARD_IMPORT, openapi_extensions={"requestBody": _IMPORT_BODY})
def import_cards(batch_id: Annotated[BatchId | None, Query()] = None) -> CardImportResult:
    # The body is read here, not by a typed Body(): it is JSON or CSV.
    event = app.current_event
    batch, numbers = import_request(event.headers.get("content-type"), event.decoded_body or "", batch_id)
    return services.card_stock.import_batch(batch, numbers)


# ---------------------------------------------------------------- member import (seed 002)

_MEMBER_IMPORT_BODY = {
    "required": True,
    "description": f"text/csv (a header naming the columns: {', '.join(FIELDS)}) or application/x-ndjson "
    f"(one JSON object a line); at most {MAX_LINES_PER_REQUEST} lines and "
    f"{MAX_MEMBER_IMPORT_BYTES // 1024} KiB a request (bigger files: the import bucket)",
    "content": {
        "text/csv": {
            "schema": {
                "type": "string",
                "examples": [
                    "card_number,mobile,balance,lots\n6100000000000009,+491701234567,150,100@2027-03-31\n"
                ],
            }
        },
        "application/x-ndjson": {"schema": {"type": "string"}},
    },
}


_FIRST_LINE = (
    "the number in the whole file of the body's first line (a CSV part's header): a big file sent "
    "in parts under one import_id keeps its line numbers, so a card repeated in a later part is "
    "duplicate_card"
)


@app.post(MEMBER_IMPORT, openapi_extensions={"requestBody": _MEMBER_IMPORT_BODY})
def import_members(
    import_id: Annotated[ImportId | None, Query()] = None,
    line: Annotated[int, Query(ge=1, le=100_000_000, description=_FIRST_LINE)] = 1,
) -> MemberImportResult:
    # The body is read here, not by a typed Body(): it is CSV or JSON lines.
    event = app.current_event
    fmt = file_format(event.headers.get("content-type"))
    chosen = import_id or f"api:{current_idempotency_key(app) or ''}"
    return services.member_import.import_text(chosen, fmt, event.decoded_body or "", first_line=line)


@app.get("/v1/admin/members/imports/<import_id>")
def member_import_report(import_id: Annotated[str, Path(min_length=1, max_length=1200)]) -> ImportReport:
    """A file put in the import bucket (issue 18): its run (counts, status, why it stopped) and
    its refused lines. The import id is ``s3:<key>@<version>``, URL-encoded."""
    return services.bucket_import.report(import_id)


# ---------------------------------------------------------------- card lifecycle (A10)


@app.post("/v1/admin/cards/<card_number>/block")
def block_card(
    card_number: Annotated[CardNumberPath, Path()], body: Annotated[BlockCard, Body()]
) -> CardSummary:
    return services.card_lifecycle.block(
        card_number, body.reason, idempotency_key=current_idempotency_key(app) or ""
    )


@app.post("/v1/admin/cards/<card_number>/replace")
def replace_card(
    card_number: Annotated[CardNumberPath, Path()], body: Annotated[ReplaceCard, Body()]
) -> CardSummary:
    return services.card_lifecycle.replace(
        card_number, body.new_card_number, idempotency_key=current_idempotency_key(app) or ""
    )


# ---------------------------------------------------------------- stores and staff (R6)

PageLimit = Annotated[int, Query(ge=1, le=100)]
Cursor = Annotated[str | None, Query(max_length=1024)]


@app.put("/v1/admin/stores/<store_id>")
def put_store(store_id: Annotated[DirectoryId, Path()], body: Annotated[PutStore, Body()]) -> Store:
    return services.store_directory.put_store(store_id, body)


@app.get("/v1/admin/stores")
def list_stores(limit: PageLimit = 100, cursor: Cursor = None) -> StorePage:
    return services.store_directory.stores(limit=limit, cursor=cursor or None)


@app.put("/v1/admin/staff/<staff_id>")
def put_staff(staff_id: Annotated[DirectoryId, Path()], body: Annotated[PutStaff, Body()]) -> StaffMember:
    return services.store_directory.put_staff(staff_id, body)


@app.get("/v1/admin/staff")
def list_staff(limit: PageLimit = 100, cursor: Cursor = None) -> StaffPage:
    return services.store_directory.staff(limit=limit, cursor=cursor or None)


# ---------------------------------------------------------------- the program as data (R9)


@app.get("/v1/admin/program")
def get_program() -> ProgramVersion:
    return services.program_admin.current()


@app.put("/v1/admin/program")
def put_program(body: Annotated[ProgramRules, Body()]) -> ProgramVersion:
    # Who: the verified admin key id; the whole program is the body, stored as a new version.
    return services.program_admin.replace(body, by=current_key_id(app))


@app.get("/v1/admin/program/versions")
def list_program_versions(limit: PageLimit = 20, cursor: Cursor = None) -> ProgramVersionPage:
    return services.program_admin.versions(limit=limit, cursor=cursor or None)


# ---------------------------------------------------------------- adjustments (R7), stats (R6)


@app.post(
    "/v1/admin/customers/<customer_id>/adjustments",
    responses={
        201: {
            "description": "The points were credited or debited",
            "content": {"application/json": {"model": AdjustmentResult}},
        }
    },
)
def adjust_points(
    customer_id: Annotated[CustomerId, Path()], body: Annotated[Adjustment, Body()]
) -> Response[AdjustmentResult]:
    result = services.adjustments.adjust(customer_id, body)
    return Response(status_code=201, content_type="application/json", body=result)


FromDay = Annotated[date, Query(alias="from", description="first UTC day, e.g. 2025-01-01")]
ToDay = Annotated[
    date, Query(alias="to", description=f"last UTC day, included; at most {MAX_STATS_DAYS} days")
]


@app.get("/v1/admin/stats")
def program_stats(start: FromDay, end: ToDay) -> StatsReport:
    return services.stats.stats(None, start, end)


@app.get("/v1/admin/stores/<store_id>/stats")
def store_stats(store_id: Annotated[DirectoryId, Path()], start: FromDay, end: ToDay) -> StatsReport:
    return services.stats.stats(store_id, start, end)


# ---------------------------------------------------------------- data rights (D1, D2)


@app.get("/v1/admin/customers/<customer_id>/export")
def export_customer(customer_id: Annotated[CustomerId, Path()]) -> CustomerExport:
    # An audit line with ids only: what was read (personal data) never goes to the logs.
    logger.info("customer data exported by an admin", extra={"key_id": current_key_id(app)})
    return services.exporter.export(customer_id)


@app.post("/v1/admin/customers/<customer_id>/erase")
def erase_customer(
    customer_id: Annotated[CustomerId, Path()], body: Annotated[EraseRequest, Body()]
) -> ErasureRecord:
    # 200: the erasure is done when this answers (a repeat answers the same record).
    return services.eraser.erase(customer_id, body, requested_by=current_key_id(app))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
