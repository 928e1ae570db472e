"""Member import through the bucket (issue 18) over the local stack: ``bridge-admin
import-members FILE`` puts the file in the import bucket (moto S3), moto's ObjectCreated
notification reaches MemberImportQueue, whose poller hands it to the member import worker as
Lambda's event source would; the worker imports 8 lines a chunk (several chunks) and the
report counts every line, is readable by an admin route and is emailed to the admins. A file
that is not CSV or JSON lines fails with a clear report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pytest

from bridge_local.client import SignedClient
from bridge_local.stack import LocalStackProcess
from loyalty_bridge.adapters.ledger import DynamoDbLedger
from loyalty_bridge.settings import Settings
from tests.acceptance.admin_cli import bridge_admin
from tests.conftest import Mailbox, _wait_for
from tests.member_files import member_file

ADMIN = "imports-admin@example.com"


@pytest.fixture(scope="module")
def stack(local_stack_factory: Callable[..., LocalStackProcess]) -> LocalStackProcess:
    return local_stack_factory(env={"MEMBER_IMPORT_CHUNK_LINES": "8", "ADMIN_EMAILS": ADMIN})


def test_a_file_put_in_the_bucket_is_imported_in_chunks_and_reported(
    stack: LocalStackProcess,
    admin: SignedClient,
    tmp_path: Path,
    mailbox_for: Callable[[LocalStackProcess], Mailbox],
) -> None:
    file = member_file(30)  # 35 member lines and the header: 5 chunks of 8 lines
    path = tmp_path / "old-club.csv"
    path.write_text(file.text, encoding="utf-8")

    printed = bridge_admin(stack, "import-members", str(path), "--wait", "120")
    assert printed["status"] == "completed", printed
    assert (printed["lines"], printed["created"], printed["already_there"], printed["refused"]) == (
        35,
        30,
        0,
        5,
    )
    assert {r["line"]: r["reason"] for r in printed["refusals"]} == file.refusals

    answer = admin.get(f"/v1/admin/members/imports/{quote(printed['import_id'], safe='')}")
    assert answer.status_code == 200, answer.text
    run = answer.json()["run"]
    assert run["chunks"] == 5
    assert run["next_line"] == 37
    assert run["next_offset"] == run["size"]

    ledger = DynamoDbLedger(stack.client("dynamodb"), stack.status()["tables"]["LedgerTable"], Settings())
    member = ledger.find_members(card_number=file.cards[29])[0]
    assert ledger.get_balance(member.member_id).balance == file.balance(29)

    mail = mailbox_for(stack).wait_for(to=ADMIN, subject="Member import completed")
    text = Mailbox.text(mail)
    assert "Created: 30" in text
    assert "Refused: 5" in text
    assert printed["import_id"] in text


def test_a_file_that_is_not_csv_or_json_lines_gives_a_failed_report(
    stack: LocalStackProcess, admin: SignedClient
) -> None:
    bucket = stack.status()["buckets"]["MemberImportBucket"]
    put = stack.client("s3").put_object(
        Bucket=bucket, Key="imports/members.xlsx", Body=b"PK\x03\x04", ContentType="application/vnd.ms-excel"
    )
    import_id = f"s3:imports/members.xlsx@{put.get('VersionId') or put['ETag'].strip(chr(34))}"
    route = f"/v1/admin/members/imports/{quote(import_id, safe='')}"

    def finished() -> dict[str, object] | None:
        answer = admin.get(route)
        if answer.status_code != 200 or answer.json()["run"]["status"] == "running":
            return None
        run: dict[str, object] = answer.json()["run"]
        return run

    run = _wait_for(finished, "the failed report", 60)
    assert run["status"] == "failed"
    assert "text/csv" in str(run["failure"])
    assert (run["lines"], run["created"]) == (0, 0)
    missing = admin.get("/v1/admin/members/imports/" + quote("s3:nothing@v1", safe=""))
    assert missing.status_code == 404
