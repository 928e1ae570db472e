"""FakeMailchimp: the parts of the Mailchimp Marketing API v3 the bridge uses, enforced.

A real HTTP/1.1 server (keep-alive) on 127.0.0.1 in a background thread:

- ``GET /3.0/ping``
- ``GET|PUT|DELETE /3.0/lists/{list_id}/members/{subscriber_hash}``
- ``POST /3.0/lists/{list_id}/members/{subscriber_hash}/actions/delete-permanent`` (204; the
  address is then forgotten: it cannot be re-added through the API)
- ``GET|POST /3.0/lists/{list_id}/merge-fields``: the audience's merge fields, and a new one
  (``tag`` up to 10 letters, digits or underscores, upper case; ``name``; ``type`` from
  Mailchimp's set; 400 "Invalid Resource" for a tag that exists). A ``number`` field takes
  numbers only in a member's ``merge_fields``.

Enforced like Mailchimp: HTTP basic auth with the API key as password (401 "API Key
Invalid"); the list must exist (404 "Resource Not Found"); the hash is 32 lowercase hex
characters; a PUT body is a JSON object with known keys only, ``email_address`` a valid
address, ``status``/``status_if_new`` from Mailchimp's set, ``merge_fields`` only with the
audience's merge tags; creating a member needs ``status_if_new`` and a hash equal to the MD5
of the lowercased ``email_address``; a PUT on an existing member with another
``email_address`` moves the member (400 "Member Exists" if that address is a member);
re-subscribing someone who unsubscribed themselves is 400 "Member In Compliance State"; a
forgotten (permanently deleted) address cannot be re-added (400 "Forgotten Email Not
Subscribed"). More than ``max_connections`` (10) simultaneous connections: 429.

Errors are ``application/problem+json`` ``{type, title, status, detail, instance}``.
Every request is recorded (``requests``); ``fail_next`` injects 5xx / 429 / 400 answers.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode

STATUSES = frozenset({"subscribed", "unsubscribed", "cleaned", "pending", "transactional"})
PUT_KEYS = frozenset(
    {
        "email_address",
        "status_if_new",
        "status",
        "merge_fields",
        "email_type",
        "interests",
        "language",
        "vip",
        "location",
        "marketing_permissions",
        "ip_signup",
        "timestamp_signup",
        "ip_opt",
        "timestamp_opt",
        "tags",
        "skip_merge_validation",
    }
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_MEMBER_PATH = re.compile(
    r"^/3\.0/lists/(?P<list>[^/]+)/members/(?P<hash>[^/]+)(?P<action>/actions/delete-permanent)?$"
)
_HASH = re.compile(r"^[0-9a-f]{32}$")
_MERGE_FIELDS_PATH = re.compile(r"^/3\.0/lists/(?P<list>[^/]+)/merge-fields$")
_TAG = re.compile(r"^[A-Z0-9_]{1,10}$")
MERGE_TYPES = frozenset(
    {"text", "number", "address", "phone", "date", "url", "imageurl", "radio", "dropdown", "birthday", "zip"}
)


def subscriber_hash(email: str) -> str:
    return hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()


def webhook_form(
    kind: str, email: str, list_id: str, *, reason: str = "manual", fired_at: str = "2026-01-02 03:04:05"
) -> str:
    """A form-encoded audience webhook body as Mailchimp sends it."""
    fields: dict[str, str] = {"type": kind, "fired_at": fired_at}
    data = {
        "id": uuid.uuid4().hex[:10],
        "list_id": list_id,
        "email": email,
        "email_type": "html",
        "merges[EMAIL]": email,
        "merges[FNAME]": "Test",
        "ip_opt": "203.0.113.7",
    }
    if kind == "unsubscribe":
        data |= {"action": "unsub", "reason": reason, "campaign_id": "cb398d21d2"}
    if kind == "cleaned":
        data |= {"reason": "hard", "campaign_id": "cb398d21d2"}
    for key, value in data.items():
        head, bracket, rest = key.partition("[")
        fields[f"data[{head}]" + (bracket + rest if bracket else "")] = value
    return urlencode(fields)


@dataclass
class RecordedRequest:
    method: str
    path: str
    body: Any
    status: int
    authorised: bool


@dataclass
class Member:
    email_address: str
    status: str
    merge_fields: dict[str, Any] = field(default_factory=dict)
    unique_email_id: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    compliance: bool = False  # unsubscribed by themselves: only a signup form can bring them back
    archived: bool = False
    last_changed: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    def as_json(self, list_id: str) -> dict[str, Any]:
        return {
            "id": subscriber_hash(self.email_address),
            "email_address": self.email_address,
            "unique_email_id": self.unique_email_id,
            "status": "archived" if self.archived else self.status,
            "merge_fields": dict(self.merge_fields),
            "list_id": list_id,
            "last_changed": self.last_changed,
        }


class _Problem(Exception):
    def __init__(self, status: int, title: str, detail: str = "", errors: list[dict[str, str]] | None = None):
        super().__init__(title)
        self.status, self.title, self.detail, self.errors = status, title, detail, errors or []


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients closing connections (pools at shutdown, the 429 test) are not errors here.
        return


class FakeMailchimp:
    def __init__(
        self,
        *,
        api_key: str = "0123456789abcdef0123456789abcdef-us21",
        list_id: str = "list1",
        merge_tags: tuple[str, ...] = ("FNAME", "LNAME", "LOYALTY"),
        max_connections: int = 10,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.api_key = api_key
        self.list_id = list_id
        self.merge_tags = set(merge_tags)
        self.merge_types: dict[str, str] = dict.fromkeys(merge_tags, "text")  # tag -> type
        self.max_connections = max_connections
        self.members: dict[str, Member] = {}  # subscriber hash -> member
        self.forgotten: set[str] = set()
        self.requests: list[RecordedRequest] = []
        self.peak_connections = 0  # most connections open while a request was served
        self.lock = threading.RLock()
        self._failures: list[tuple[int, str, str, str | None]] = []
        self._active = 0
        self._server = _QuietServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeMailchimp:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-mailchimp",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeMailchimp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ test helpers

    def fail_next(
        self,
        status: int,
        title: str = "",
        detail: str = "",
        *,
        times: int = 1,
        retry_after: str | None = None,
    ) -> None:
        """The next ``times`` API requests answer ``status`` (5xx, 429, or a 400 title)."""
        default = {429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}
        with self.lock:
            self._failures.extend(
                [(status, title or default.get(status, "Error"), detail, retry_after)] * times
            )

    def member(self, email: str) -> Member | None:
        with self.lock:
            return self.members.get(subscriber_hash(email))

    def add_member(self, email: str, status: str = "subscribed", **merge_fields: Any) -> Member:
        member = Member(email_address=email, status=status, merge_fields=dict(merge_fields))
        with self.lock:
            self.members[subscriber_hash(email)] = member
        return member

    def unsubscribe_by_member(self, email: str) -> None:
        """The person clicked "unsubscribe" in a campaign (then only a form re-subscribes them)."""
        with self.lock:
            member = self.members[subscriber_hash(email)]
            member.status, member.compliance = "unsubscribed", True

    def forget(self, email: str) -> None:
        """GDPR "permanently delete": the address can never be re-added through the API."""
        with self.lock:
            self.members.pop(subscriber_hash(email), None)
            self.forgotten.add(subscriber_hash(email))

    def writes(self) -> list[RecordedRequest]:
        with self.lock:
            return [r for r in self.requests if r.method in ("PUT", "DELETE")]

    def iter_members(self) -> Iterator[Member]:
        with self.lock:
            yield from list(self.members.values())

    # ------------------------------------------------------------------ HTTP

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with fake.lock:
                    fake._active += 1

            def finish(self) -> None:
                with fake.lock:
                    fake._active -= 1
                super().finish()

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                fake._serve(self, "GET")

            def do_PUT(self) -> None:
                fake._serve(self, "PUT")

            def do_DELETE(self) -> None:
                fake._serve(self, "DELETE")

            def do_POST(self) -> None:
                fake._serve(self, "POST")

            def do_PATCH(self) -> None:
                fake._serve(self, "PATCH")

        return Handler

    def _serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode(errors="replace")
        authorised = self._authorised(handler.headers.get("Authorization"))
        close = False
        try:
            too_many = self._over_the_limit()
            with self.lock:
                failure = self._failures.pop(0) if self._failures and not too_many else None
            if too_many:
                close = True
                raise _Problem(
                    429, "Too Many Requests", "You have exceeded the limit of 10 simultaneous connections."
                )
            if failure is not None:
                status, title, detail, retry_after = failure
                self._answer(
                    handler, method, body, authorised, status, _problem(status, title, detail), retry_after
                )
                return
            if not authorised:
                raise _Problem(
                    401,
                    "API Key Invalid",
                    "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
                )
            status, answer = self._route(method, handler.path, body)
        except _Problem as problem:
            status, answer = (
                problem.status,
                _problem(problem.status, problem.title, problem.detail, problem.errors),
            )
        self._answer(handler, method, body, authorised, status, answer, None, close=close)

    def _over_the_limit(self) -> bool:
        """More than ``max_connections`` open while this request is served. A client that just
        closed a connection and opened another is given a moment: the server notices a
        close a little after the client made it."""
        deadline = time.monotonic() + 2.0  # generous: a loaded CI machine notices closes late
        while True:
            with self.lock:
                active = self._active
                if active <= self.max_connections or time.monotonic() > deadline:
                    self.peak_connections = max(self.peak_connections, active)
                    return active > self.max_connections
            time.sleep(0.005)

    def _answer(
        self,
        handler: BaseHTTPRequestHandler,
        method: str,
        body: Any,
        authorised: bool,
        status: int,
        answer: dict[str, Any] | None,
        retry_after: str | None,
        *,
        close: bool = False,
    ) -> None:
        with self.lock:
            self.requests.append(RecordedRequest(method, handler.path, body, status, authorised))
        payload = json.dumps(answer).encode() if answer is not None else b""
        handler.send_response(status)
        content_type = "application/problem+json" if status >= 400 else "application/json"
        handler.send_header("Content-Type", f"{content_type}; charset=utf-8")
        handler.send_header("Content-Length", str(len(payload)))
        if retry_after is not None:
            handler.send_header("Retry-After", retry_after)
        if close:
            handler.send_header("Connection", "close")
            handler.close_connection = True
        handler.end_headers()
        handler.wfile.write(payload)

    def _authorised(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            user_pass = base64.b64decode(header[6:], validate=True).decode()
        except ValueError:
            return False
        _, _, password = user_pass.partition(":")
        return password == self.api_key

    def _route(self, method: str, path: str, body: Any) -> tuple[int, dict[str, Any] | None]:
        path = path.split("?", 1)[0]
        if path == "/3.0/ping" and method == "GET":
            return 200, {"health_status": "Everything's Chimpy!"}
        fields = _MERGE_FIELDS_PATH.match(path)
        if fields is not None:
            if fields["list"] != self.list_id:
                raise _Problem(404, "Resource Not Found", "The requested resource could not be found.")
            return self._merge_fields(method, body)
        match = _MEMBER_PATH.match(path)
        if match is None:
            raise _Problem(404, "Resource Not Found", "The requested resource could not be found.")
        if match["list"] != self.list_id:
            raise _Problem(404, "Resource Not Found", "The requested resource could not be found.")
        key = match["hash"]
        if not _HASH.match(key):
            raise _Problem(404, "Resource Not Found", "The requested resource could not be found.")
        with self.lock:
            if match["action"]:
                if method != "POST":
                    raise _Problem(405, "Method Not Allowed", f"{method} is not allowed on this resource.")
                if self.members.pop(key, None) is None:
                    raise _Problem(404, "Resource Not Found", "The requested resource could not be found.")
                self.forgotten.add(key)
                return 204, None
            if method == "GET":
                member = self.members.get(key)
                if member is None or member.archived:
                    raise _Problem(404, "Resource Not Found", "The requested resource could not be found.")
                return 200, member.as_json(self.list_id)
            if method == "DELETE":
                member = self.members.get(key)
                if member is None or member.archived:
                    raise _Problem(404, "Resource Not Found", "The requested resource could not be found.")
                member.archived = True
                return 204, None
            if method == "PUT":
                return 200, self._put(key, body)
        raise _Problem(405, "Method Not Allowed", f"{method} is not allowed on this resource.")

    def _merge_fields(self, method: str, body: Any) -> tuple[int, dict[str, Any]]:
        with self.lock:
            if method == "GET":
                listed = [
                    {"merge_id": n, "tag": tag, "name": tag.title(), "type": kind, "list_id": self.list_id}
                    for n, (tag, kind) in enumerate(sorted(self.merge_types.items()), start=1)
                ]
                return 200, {"merge_fields": listed, "list_id": self.list_id, "total_items": len(listed)}
            if method != "POST":
                raise _Problem(405, "Method Not Allowed", f"{method} is not allowed on this resource.")
            if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"]:
                raise _Problem(400, "Invalid Resource", "The resource submitted could not be validated.")
            tag, kind = body.get("tag"), body.get("type")
            if not isinstance(tag, str) or not _TAG.match(tag) or kind not in MERGE_TYPES:
                raise _Problem(400, "Invalid Resource", "The tag or type of the merge field is invalid.")
            if tag in self.merge_types:
                raise _Problem(400, "Invalid Resource", f'A Merge Field with the tag "{tag}" already exists.')
            self.merge_types[tag] = str(kind)
            self.merge_tags.add(tag)
            field = {"merge_id": len(self.merge_types), "tag": tag, "name": body["name"], "type": kind}
            return 200, field | {"list_id": self.list_id}

    def _valid_merge(self, merge: Any) -> bool:
        if not isinstance(merge, dict):
            return False
        for tag, value in merge.items():
            if tag not in self.merge_tags or not isinstance(value, (str, int, float)):
                return False
            if self.merge_types.get(tag) == "number" and (isinstance(value, str) and value != ""):
                return False
        return True

    def _put(self, key: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise _Problem(400, "JSON Parse Error", "We encountered an unspecified JSON parsing error.")
        unknown = sorted(set(body) - PUT_KEYS)
        if unknown:
            raise _Problem(400, "Invalid Resource", f"Unknown field(s): {', '.join(unknown)}")
        email = body.get("email_address")
        if not isinstance(email, str) or not _EMAIL.match(email):
            raise _Problem(
                400,
                "Invalid Resource",
                "Please provide a valid email address.",
                [{"field": "email_address", "message": "This value should be a valid email."}],
            )
        for name in ("status", "status_if_new"):
            if name in body and body[name] not in STATUSES:
                raise _Problem(
                    400,
                    "Invalid Resource",
                    f"{name} must be one of {sorted(STATUSES)}",
                    [{"field": name, "message": "Invalid value."}],
                )
        merge = body.get("merge_fields", {})
        if not self._valid_merge(merge):
            raise _Problem(
                400,
                "Invalid Resource",
                "Your merge fields were invalid.",
                [{"field": "merge_fields", "message": "Unknown merge tag or bad value."}],
            )
        member = self.members.get(key)
        new_key = subscriber_hash(email)
        if member is None or member.archived:
            if new_key != key:
                raise _Problem(
                    400,
                    "Invalid Resource",
                    "The subscriber hash does not match the email address.",
                    [{"field": "email_address", "message": "Does not match the subscriber hash."}],
                )
            if key in self.forgotten:
                raise _Problem(
                    400,
                    "Forgotten Email Not Subscribed",
                    f"{email} was permanently deleted and cannot be re-imported. "
                    "The contact must re-subscribe to get back on the list.",
                )
            if "status_if_new" not in body:
                raise _Problem(
                    400,
                    "Invalid Resource",
                    "The resource submitted could not be validated.",
                    [{"field": "status_if_new", "message": "This value should not be blank."}],
                )
            status = (
                body.get("status", body["status_if_new"]) if member is not None else body["status_if_new"]
            )
            created = Member(email_address=email, status=status, merge_fields=dict(merge))
            self.members[key] = created
            return created.as_json(self.list_id)
        if new_key != key:
            other = self.members.get(new_key)
            if other is not None and not other.archived:
                raise _Problem(400, "Member Exists", f"{email} is already a list member.")
            if new_key in self.forgotten:
                raise _Problem(400, "Forgotten Email Not Subscribed", f"{email} was permanently deleted.")
        if body.get("status") == "subscribed" and member.status != "subscribed" and member.compliance:
            raise _Problem(
                400,
                "Member In Compliance State",
                f"{email} is in a compliance state due to unsubscribe, bounce, or compliance review "
                "and cannot be subscribed.",
            )
        if "status" in body:
            member.status = body["status"]
            if member.status == "subscribed":
                member.compliance = False
        member.merge_fields.update(merge)
        member.email_address = email
        member.last_changed = datetime.now(UTC).isoformat()
        if new_key != key:
            self.members.pop(key)
            self.members[new_key] = member
        return member.as_json(self.list_id)


def _problem(
    status: int, title: str, detail: str = "", errors: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    problem: dict[str, Any] = {
        "type": "https://mailchimp.com/developer/marketing/docs/errors/",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": str(uuid.uuid4()),
    }
    if errors:
        problem["errors"] = errors
    return problem
