"""Mail and SMS capture: what the functions send to moto's SES and SNS is written to
``<state>/mail/*.eml`` (one per message) and ``<state>/sms/*.json`` (one per text message),
and announced in the log. It runs where moto runs (``MotoProcess``'s child, or the process
that serves moto to tests), so moto's backends are read directly.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

log = logging.getLogger("bridge_local")


def _ses_backend(account_id: str, region: str) -> Any:
    from moto.ses.models import ses_backends

    return ses_backends[account_id][region]


def _sns_backend(account_id: str, region: str) -> Any:
    from moto.sns.models import sns_backends

    return sns_backends[account_id][region]


def _recipients(destinations: Any) -> dict[str, list[str]]:
    if isinstance(destinations, dict):
        return {
            "To": list(destinations.get("ToAddresses") or []),
            "Cc": list(destinations.get("CcAddresses") or []),
            "Bcc": list(destinations.get("BccAddresses") or []),
        }
    return {"To": [str(d) for d in destinations or []], "Cc": [], "Bcc": []}


def message_to_eml(message: Any) -> bytes:
    """moto's stored SES message -> RFC 5322 bytes."""
    raw = getattr(message, "raw_data", None)
    if raw is not None:
        data = raw.encode() if isinstance(raw, str) else bytes(raw)
        # SES adds the envelope recipients; keep them visible when the MIME lacks To.
        if b"\nTo:" not in b"\n" + data.split(b"\n\n", 1)[0] and getattr(message, "destinations", None):
            data = b"To: " + ", ".join(message.destinations).encode() + b"\r\n" + data
        return data
    email = EmailMessage()
    email["Message-ID"] = make_msgid(idstring=str(getattr(message, "id", "")) or None, domain="local")
    email["Date"] = formatdate(localtime=False)
    email["From"] = str(getattr(message, "source", ""))
    for header, addresses in _recipients(getattr(message, "destinations", None)).items():
        if addresses:
            email[header] = ", ".join(addresses)
    if hasattr(message, "template"):
        email["Subject"] = f"[template {message.template}]"
        email.set_content(str(getattr(message, "template_data", "")))
        return bytes(email)
    email["Subject"] = str(getattr(message, "subject", ""))
    body = str(getattr(message, "body", ""))
    if body.lstrip().lower().startswith(("<html", "<!doctype", "<div", "<p")):
        email.set_content(body, subtype="html")
    else:
        email.set_content(body)
    return bytes(email)


class Capture:
    def __init__(self, state_dir: Path, *, account_id: str, region: str, stop: threading.Event) -> None:
        self.mail_dir = state_dir / "mail"
        self.sms_dir = state_dir / "sms"
        self.mail_dir.mkdir(parents=True, exist_ok=True)
        self.sms_dir.mkdir(parents=True, exist_ok=True)
        self.account_id = account_id
        self.region = region
        self._stop = stop
        self._mail_seen = len(_ses_backend(account_id, region).sent_messages)
        self._sms_seen = set(_sns_backend(account_id, region).sms_messages)
        self._counter = 0
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, name="capture", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            try:
                self.collect()
            except Exception:
                log.exception("mail/SMS capture failed")

    def _stamp(self) -> str:
        self._counter += 1
        return f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}-{self._counter:04d}"

    def collect(self) -> None:
        with self._lock:
            sent = _ses_backend(self.account_id, self.region).sent_messages
            for message in list(sent[self._mail_seen :]):
                self._mail_seen += 1
                path = self.mail_dir / f"{self._stamp()}.eml"
                _write_whole(path, message_to_eml(message))
                log.info("mail captured: %s", path)
            sms = _sns_backend(self.account_id, self.region).sms_messages
            for message_id, (phone, text) in list(sms.items()):
                if message_id in self._sms_seen:
                    continue
                self._sms_seen.add(message_id)
                path = self.sms_dir / f"{self._stamp()}.json"
                document = {
                    "message_id": message_id,
                    "to": phone,
                    "message": text,
                    "sent_at": datetime.now(UTC).isoformat(),
                }
                _write_whole(path, json.dumps(document, indent=2).encode("utf-8"))
                log.info("SMS captured: %s", path)


def _write_whole(path: Path, data: bytes) -> None:
    """Write ``path`` so a reader never sees it half written (an empty SMS file failed a
    test's JSON read once): a side file, then one rename onto the name readers look for."""
    partial = path.with_name(path.name + ".part")
    partial.write_bytes(data)
    os.replace(partial, path)
