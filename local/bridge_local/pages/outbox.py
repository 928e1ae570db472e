"""What the local stack captured (bridge_local/capture.py): the mail in ``<state>/mail/*.eml``
and the text messages in ``<state>/sms/*.json``, read back for the pages' side panel (the
customer reads the code there) and the admin console (the email each error sent)."""

from __future__ import annotations

import email
import email.policy
import json
import re
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

_TAGS = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class Captured:
    kind: str  # "mail" | "sms"
    to: str
    subject: str
    text: str
    name: str  # the file name: capture order


def _mail_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    text = str(part.get_content())
    return _TAGS.sub("", text) if part.get_content_subtype() == "html" else text


def read_mail(path: Path) -> Captured:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return Captured(
        "mail", str(message.get("to", "")), str(message.get("subject", "")), _mail_text(message), path.name
    )


def read_sms(path: Path) -> Captured:
    document = json.loads(path.read_text(encoding="utf-8"))
    return Captured("sms", str(document.get("to", "")), "SMS", str(document.get("message", "")), path.name)


class Outbox:
    def __init__(self, state_dir: Path) -> None:
        self.mail_dir = state_dir / "mail"
        self.sms_dir = state_dir / "sms"

    def mail(self) -> list[Captured]:
        """Every captured email, newest first."""
        return [read_mail(p) for p in sorted(self.mail_dir.glob("*.eml"), reverse=True)]

    def latest(self, *, to: set[str], limit: int = 5) -> list[Captured]:
        """The newest mail and SMS sent to any of ``to`` (addresses, phone numbers)."""
        wanted = {value.lower() for value in to if value}
        found = [m for m in self.mail() if any(w in m.to.lower() for w in wanted)]
        found += [
            s for s in (read_sms(p) for p in sorted(self.sms_dir.glob("*.json"))) if s.to.lower() in wanted
        ]
        return sorted(found, key=lambda c: c.name, reverse=True)[:limit]

    def error_mail(self) -> dict[str, Captured]:
        """Admin emails by the error id they name ("Error id: ..." in the text)."""
        found: dict[str, Captured] = {}
        for message in self.mail():
            named = re.search(r"^Error id: (\S+)$", message.text, re.MULTILINE)
            if named and named.group(1) not in found:
                found[named.group(1)] = message
        return found
