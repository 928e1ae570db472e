"""``/admin/``: the admin console. Its server side calls the admin routes with the admin key
(``Storefront.call`` signs any request; the key decides the scope): open errors by category
with the email each one sent, replay and resolve; the program in force, its versions and a
new version; statistics per day."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from bridge_local.events import HttpResponse
from bridge_local.pages.outbox import Captured, Outbox
from bridge_local.pages.storefront import BridgeProblem, Storefront
from bridge_local.pages.web import (
    Request,
    Router,
    h,
    html_response,
    nav_links,
    page,
    post_button,
    pretty_json,
    redirect,
)

CATEGORIES = (
    ("new_account_registration", "New Account Registration Errors"),
    ("attach_existing_account_registration", "Attach Existing Account Registration Errors"),
    ("account_update", "Account Update Errors"),
    ("new_order", "New Order Errors"),
)
STATUSES = ("open", "replaying", "resolved")
NAV = nav_links(
    "Admin console", [("/admin/", "Errors"), ("/admin/program", "Program"), ("/admin/stats", "Statistics")]
)
Document = dict[str, Any]


def _error_row(error: Document, mail: Captured | None) -> str:
    error_id = error["error_id"]
    actions = ""
    if error["status"] == "open":
        route = f"/admin/errors/{quote(error_id, safe='')}"
        if error.get("replayable"):
            actions += post_button(f"{route}/replay", "Replay", name="replay")
        actions += (
            f'<form class="inline" method="post" action="{h(route)}/resolve"><input type="text" name="note" '
            'placeholder="what you fixed"><button type="submit" name="resolve">Resolve</button></form>'
        )
    email = (
        f'<pre class="email">{h(mail.subject)}\n\n{h(mail.text)}</pre>'
        if mail
        else "<p>(no email captured)</p>"
    )
    return (
        f'<div class="error" data-error-id="{h(error_id)}"><h3>{h(error["attempted"])}</h3>'
        f"<p>Customer {h(error.get('customer_id'))} · status "
        f'<strong class="status">{h(error["status"])}</strong>'
        f" · attempts {h(error['attempts'])} · since {h(error['created_at'])}</p>"
        f"<p>Platform answered: {h(error['platform_answer'])}</p><p>What to do: {h(error['action'])}</p>"
        f"<details><summary>Email sent to the admins</summary>{email}</details>{actions}</div>"
    )


class Console:
    def __init__(self, admin_api: Storefront, outbox: Outbox) -> None:
        self.api = admin_api
        self.outbox = outbox

    def routes(self, router: Router) -> None:
        router.add("GET", "/admin", lambda request: redirect("/admin/"))
        router.add("GET", "/admin/", self._guard(self.errors))
        router.add("POST", "/admin/errors/{error_id}/replay", self._guard(self.replay))
        router.add("POST", "/admin/errors/{error_id}/resolve", self._guard(self.resolve))
        router.add("GET", "/admin/program", self._guard(self.program))
        router.add("POST", "/admin/program", self._guard(self.put_program))
        router.add("GET", "/admin/stats", self._guard(self.stats))

    def _guard(self, handler: Callable[[Request], HttpResponse]) -> Callable[[Request], HttpResponse]:
        def run(request: Request) -> HttpResponse:
            try:
                return handler(request)
            except BridgeProblem as problem:
                said = f"The bridge answered {problem.status} {problem.code}: {problem.detail}"
                if request.method == "GET":
                    return self._page("Sorry", "", problem=said)
                return redirect(f"{request.form.get('back') or '/admin/'}?{urlencode({'problem': said})}")

        return run

    def _page(self, title: str, body: str, *, flash: str = "", problem: str = "") -> HttpResponse:
        return html_response(page(title, body, nav=NAV, flash=flash, problem=problem))

    def errors(self, request: Request) -> HttpResponse:
        status = request.query.get("status") or "open"
        wanted = [c for c in CATEGORIES if request.query.get("category") in (None, "", c[0])]
        mails = self.outbox.error_mail()
        sections = []
        for category, title in wanted:
            query = urlencode({"category": category, "status": status, "limit": 100})
            listed = self.api.call("GET", f"/v1/admin/errors?{query}")["errors"]
            rows = "".join(_error_row(e, mails.get(e["error_id"])) for e in listed) or "<p>None.</p>"
            sections.append(
                f'<section class="category" id="{category}"><h2>{h(title)} '
                f'(<span class="count">{len(listed)}</span>)</h2>{rows}</section>'
            )
        filters = " ".join(
            f'<a href="/admin/?status={s}" id="status-{s}">'
            f"{'<strong>' + s + '</strong>' if s == status else s}</a>"
            for s in STATUSES
        )
        body = f"<p>Show: {filters}</p>" + "".join(sections)
        return self._page(
            f"Errors ({status})",
            body,
            flash=request.query.get("flash", ""),
            problem=request.query.get("problem", ""),
        )

    def replay(self, request: Request) -> HttpResponse:
        error_id = request.params["error_id"]
        answer = self.api.call("POST", f"/v1/admin/errors/{quote(error_id, safe='')}/replay", {})
        said = f"Replaying {error_id} through {answer.get('queue')}."
        return redirect(f"/admin/?{urlencode({'flash': said})}")

    def resolve(self, request: Request) -> HttpResponse:
        error_id = request.params["error_id"]
        path = f"/v1/admin/errors/{quote(error_id, safe='')}/resolve"
        self.api.call("POST", path, {"note": request.field("note")[:500]})
        return redirect(f"/admin/?{urlencode({'flash': f'{error_id} resolved.'})}")

    def program(self, request: Request) -> HttpResponse:
        current = self.api.call("GET", "/v1/admin/program")
        versions = self.api.call("GET", "/v1/admin/program/versions?limit=20")
        words = self.api.call("GET", "/v1/program")
        rows = "".join(
            f'<tr class="version"><td>{h(v.get("version"))}</td><td>{h(v.get("created_by"))}</td>'
            f"<td>{h(v.get('created_at'))}</td></tr>"
            for v in versions.get("versions", [])
        )
        ways = "".join(f"<li>{h(w.get('description'))}</li>" for w in words.get("ways_to_earn", []))
        program_text = json.dumps(current.get("program"), indent=2, ensure_ascii=False)
        body = (
            '<section><p>Version in force: <strong id="program-version">'
            f"{h(current.get('version'))}</strong> "
            f"by {h(current.get('created_by'))} at {h(current.get('created_at'))}</p>"
            f'<h2>Ways to earn</h2><ul id="ways-to-earn">{ways}</ul>'
            f'<h2>The program</h2><pre id="program">{pretty_json(current.get("program"))}</pre></section>'
            '<section><h2>Versions</h2><table id="versions"><tr>'
            f"<th>Version</th><th>By</th><th>At</th></tr>{rows}"
            "</table></section><section><h2>Store a new version</h2>"
            '<form method="post" action="/admin/program" id="program-form">'
            '<input type="hidden" name="back" value="/admin/program">'
            '<textarea name="program" rows="20" cols="90">'
            f'{h(program_text)}</textarea><p><button type="submit">'
            "Store as the next version</button></p></form></section>"
        )
        return self._page(
            "Program", body, flash=request.query.get("flash", ""), problem=request.query.get("problem", "")
        )

    def put_program(self, request: Request) -> HttpResponse:
        try:
            program = json.loads(request.form.get("program", ""))
        except ValueError as exc:
            return redirect(f"/admin/program?{urlencode({'problem': f'Not JSON: {exc}'})}")
        stored = self.api.call("PUT", "/v1/admin/program", program)
        said = f"Stored version {stored.get('version')}."
        return redirect(f"/admin/program?{urlencode({'flash': said})}")

    def stats(self, request: Request) -> HttpResponse:
        today = datetime.now(UTC).date()
        start = request.query.get("from") or str(today - timedelta(days=29))
        end = request.query.get("to") or str(today)
        report = self.api.call("GET", f"/v1/admin/stats?{urlencode({'from': start, 'to': end})}")
        columns = (
            "orders",
            "points_earned",
            "points_redeemed",
            "points_reversed",
            "points_returned",
            "points_adjusted",
            "points_expired",
            "referral_bonus",
            "new_members",
        )
        head = "<tr><th>Day</th>" + "".join(f"<th>{h(c.replace('_', ' '))}</th>" for c in columns) + "</tr>"

        def row(day: Document, css: str) -> str:
            cells = "".join(f'<td class="{c}">{h(day.get(c))}</td>' for c in columns)
            return f'<tr class="{css}"><td>{h(day.get("day"))}</td>{cells}</tr>'

        rows = "".join(row(d, "day") for d in report.get("days", []))
        totals = (
            row({**(report.get("totals") or {}), "day": "Total"}, "totals") if report.get("totals") else ""
        )
        form = (
            '<form method="get" action="/admin/stats">From '
            f'<input type="text" name="from" value="{h(start)}"> '
            f'to <input type="text" name="to" value="{h(end)}"> <button type="submit">Show</button></form>'
        )
        table = (
            f'<table id="stats">{head}{rows}{totals}</table>'
            if report.get("available", True)
            else ("<p>The loyalty platform keeps no statistics.</p>")
        )
        return self._page("Statistics", f"<section>{form}{table}</section>")
