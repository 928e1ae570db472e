"""MailingList (ports.py) over the Mailchimp Marketing API v3 (httpx).

Contract used (https://mailchimp.com/developer/marketing/api/list-members/):
- ``PUT /3.0/lists/{list_id}/members/{subscriber_hash}`` adds or updates a member: the hash
  is the MD5 of the lowercased email; the body carries ``email_address``, ``status_if_new``
  (used only when the member is created), ``status`` (changes an existing member) and
  ``merge_fields`` (only the tags sent are changed). Our merge tags: FNAME, LNAME and the
  loyalty flag (default ``LOYALTY`` = "yes"/"no", P4; create it in the audience); P6's
  POINTS, TIER, NEXTREWARD and REFLINK, created by the bridge when missing
  (``GET|POST /3.0/lists/{list_id}/merge-fields``, once per container).
- An email change is a PUT on the OLD hash with the new ``email_address``; if the old member
  does not exist the new one is upserted; if the new address is already a member, that
  member is updated and the old one archived (``DELETE``).
- ``GET .../members/{hash}`` (404 = not a member), ``DELETE`` archives;
  ``POST .../members/{hash}/actions/delete-permanent`` erases (D2: GDPR Art. 17).
- HTTP basic auth, any user name, the API key as password. The data centre is the key's
  suffix (``...-us21`` -> ``https://us21.api.mailchimp.com``) unless a base URL is set.
- Errors are problem JSON ``{type, title, status, detail, instance}``. 429 and 5xx (and
  timeouts) are retried here with backoff, then raised as MailchimpUnavailable (retryable);
  other 4xx are MailchimpRefused (permanent: e.g. "Member In Compliance State",
  "Forgotten Email Not Subscribed"); a bad API key is errors.Permanent.

Mailchimp allows 10 simultaneous connections per API key: the httpx client built in
wiring (profile.mailchimp_http) is limited to 10, and the worker's event source to 10 concurrent invocations.
"""

from __future__ import annotations

import hashlib
import random
import re
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from loyalty_bridge import errors
from loyalty_bridge.models.domain import AudienceMember
from loyalty_bridge.observability import logger
from loyalty_bridge.privacy import pseudonym

if TYPE_CHECKING:
    import httpx

MAX_CONNECTIONS = 10
# P6: tag -> (name, type) of the loyalty merge fields (values: services/loyalty_reach.py).
LOYALTY_MERGE_FIELDS = {
    "POINTS": ("Loyalty points", "number"),
    "TIER": ("Loyalty tier", "text"),
    "NEXTREWARD": ("Next loyalty reward", "text"),
    "REFLINK": ("Referral link", "text"),
}
_DATA_CENTRE = re.compile(r"^[a-z]{2,4}[0-9]{1,3}$")
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class MailchimpRefused(errors.Refused):
    """Mailchimp validated the request and said no (permanent)."""

    code = "mailchimp_refused"

    def __init__(self, title: str, detail: str = "", *, status: int = 400) -> None:
        super().__init__(f"{title}: {detail}" if detail else title, status=status)
        self.title = title
        self.status = status


class MailchimpUnavailable(errors.Retryable):
    code = "mailchimp_unavailable"


class MailchimpCredentials(BaseModel):
    """The Mailchimp secret (settings.mailchimp_secret_arn)."""

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    api_key: str = ""
    webhook_secret: str = ""

    @property
    def data_centre(self) -> str:
        _, _, suffix = self.api_key.rpartition("-")
        return suffix


class _Problem(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    title: str = "Mailchimp error"
    status: int = 0
    detail: str = ""


class MemberAnswer(BaseModel):
    """The part of Mailchimp's member answer we rely on (validated, never trusted)."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    id: str
    email_address: str
    status: str


class _MergeField(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    tag: str


class _MergeFields(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    merge_fields: list[_MergeField]


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: MD5 of the lowercased address (an identifier, not security)."""
    return hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()


def member_body(member: AudienceMember, *, email: str, merge_tag: str) -> dict[str, Any]:
    if_new = member.subscribed if member.subscribed is not None else member.subscribed_if_new
    body: dict[str, Any] = {
        "email_address": email,
        "status_if_new": "subscribed" if if_new else "unsubscribed",
    }
    if member.subscribed is not None:
        body["status"] = "subscribed" if member.subscribed else "unsubscribed"
    merge: dict[str, str | int] = {}
    if member.first_name is not None:
        merge["FNAME"] = member.first_name
    if member.last_name is not None:
        merge["LNAME"] = member.last_name
    if member.loyalty_member is not None:
        merge[merge_tag] = "yes" if member.loyalty_member else "no"
    merge |= member.loyalty_data or {}  # P6: POINTS is a number field, the others text
    if merge:
        body["merge_fields"] = merge
    return body


class MailchimpAudience:
    """One Mailchimp audience (list)."""

    def __init__(
        self,
        http: httpx.Client,
        list_id: str,
        credentials: Callable[[], MailchimpCredentials],
        *,
        base_url: str = "",
        merge_tag: str = "LOYALTY",
        max_attempts: int = 3,
        backoff_seconds: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._http = http
        self._list_id = list_id
        self._credentials = credentials
        self._base_url = base_url.rstrip("/")
        self._merge_tag = merge_tag
        self._max_attempts = max(1, max_attempts)
        self._backoff = backoff_seconds
        self._sleep = sleep
        self._merge_fields_ready = False  # P6: the loyalty merge fields are known to exist

    # ------------------------------------------------------------------ port

    def upsert_member(self, member: AudienceMember) -> None:
        if member.loyalty_data:
            self.ensure_merge_fields(LOYALTY_MERGE_FIELDS)
        previous = member.previous_email
        if previous and previous.strip().lower() != member.email.strip().lower():
            self._move(member, previous)
            return
        self._put(member.email, member_body(member, email=member.email, merge_tag=self._merge_tag))

    # ------------------------------------------------------------------ extras

    def ensure_merge_fields(self, wanted: Mapping[str, tuple[str, str]]) -> None:
        """P6: create the audience's missing merge fields (tag -> (name, type)), once per
        container: ``GET .../merge-fields`` then one ``POST`` per missing tag."""
        if self._merge_fields_ready:
            return
        response = self._request("GET", f"/3.0/lists/{self._list_id}/merge-fields?count=1000")
        self._raise_for(response)
        try:
            known = {field.tag for field in _MergeFields.model_validate(response.json()).merge_fields}
        except ValueError as exc:
            raise MailchimpUnavailable("Mailchimp answered something that is not a merge field list") from exc
        for tag, (name, kind) in wanted.items():
            if tag in known:
                continue
            created = self._request(
                "POST",
                f"/3.0/lists/{self._list_id}/merge-fields",
                json={"tag": tag, "name": name, "type": kind, "required": False, "public": False},
            )
            self._raise_for(created)
            logger.info("mailchimp merge field created", extra={"tag": tag})
        self._merge_fields_ready = True

    def get_member(self, email: str) -> MemberAnswer | None:
        response = self._request("GET", self._member_path(email))
        if response.status_code == 404:
            return None
        self._raise_for(response)
        return self._member(response)

    def delete_permanently(self, email: str) -> bool:
        """D2: ``POST .../members/{hash}/actions/delete-permanent`` (204; 404: not a member)."""
        response = self._request("POST", self._member_path(email) + "/actions/delete-permanent")
        if response.status_code == 404:
            return False
        self._raise_for(response)
        logger.info("mailchimp member deleted permanently", extra={"member": pseudonym(email)})
        return True

    def archive_member(self, email: str) -> None:
        response = self._request("DELETE", self._member_path(email))
        if response.status_code in (204, 404):
            return
        self._raise_for(response)

    # ------------------------------------------------------------------ internals

    def _move(self, member: AudienceMember, previous: str) -> None:
        body = member_body(member, email=member.email, merge_tag=self._merge_tag)
        if self.get_member(previous) is None:
            self._put(member.email, body)
            return
        try:
            self._put(previous, body)  # Mailchimp moves the member to the new address
        except MailchimpRefused as exc:
            if exc.title != "Member Exists":
                raise
            # The new address is a member already: update it and archive the old one.
            self._put(member.email, body)
            self.archive_member(previous)

    def _put(self, path_email: str, body: dict[str, Any]) -> MemberAnswer:
        response = self._request("PUT", self._member_path(path_email), json=body)
        self._raise_for(response)
        answer = self._member(response)
        logger.info(
            "mailchimp member upserted",
            extra={"member": pseudonym(body["email_address"]), "status": answer.status},
        )
        return answer

    def _member_path(self, email: str) -> str:
        return f"/3.0/lists/{self._list_id}/members/{subscriber_hash(email)}"

    def _base(self, credentials: MailchimpCredentials) -> str:
        if self._base_url:
            return self._base_url
        centre = credentials.data_centre
        if not _DATA_CENTRE.match(centre):
            raise errors.Permanent("The Mailchimp API key has no data centre suffix (e.g. -us21).")
        return f"https://{centre}.api.mailchimp.com"

    def _request(self, method: str, path: str, *, json: dict[str, Any] | None = None) -> httpx.Response:
        import httpx

        credentials = self._credentials()
        if not credentials.api_key:
            raise errors.Permanent("The Mailchimp API key is not configured.")
        url = self._base(credentials) + path
        last = "no answer"
        for attempt in range(1, self._max_attempts + 1):
            retry_after: float | None = None
            try:
                response = self._http.request(
                    method, url, json=json, auth=("loyalty-bridge", credentials.api_key)
                )
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError):
                last = "timeout or network error"
            else:
                if response.status_code not in _RETRY_STATUSES:
                    return response
                last = f"HTTP {response.status_code}"
                retry_after = _retry_after(response)
            if attempt < self._max_attempts:
                self._sleep(retry_after if retry_after is not None else self._delay(attempt))
        logger.warning("mailchimp unavailable", extra={"method": method, "answer": last})
        raise MailchimpUnavailable(f"Mailchimp did not answer ({last}) after {self._max_attempts} attempts")

    def _delay(self, attempt: int) -> float:
        ceiling = min(self._backoff * 2.0 ** (attempt - 1), 8.0)
        return ceiling * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not security

    @staticmethod
    def _raise_for(response: httpx.Response) -> None:
        status = response.status_code
        if status < 400:
            return
        try:
            problem = _Problem.model_validate(response.json())
        except ValueError:  # pydantic's ValidationError is a ValueError
            problem = _Problem(status=status)
        if status in (401, 403):
            raise errors.Permanent(f"Mailchimp refused the API key ({problem.title})")
        raise MailchimpRefused(problem.title, problem.detail, status=status)

    @staticmethod
    def _member(response: httpx.Response) -> MemberAnswer:
        try:
            return MemberAnswer.model_validate(response.json())
        except ValueError as exc:
            raise MailchimpUnavailable("Mailchimp answered something that is not a member") from exc


def _retry_after(response: httpx.Response) -> float | None:
    value = str(response.headers.get("Retry-After") or "")
    try:
        seconds = float(value) if value else None
    except ValueError:
        return None
    return None if seconds is None else max(0.0, min(seconds, 10.0))
