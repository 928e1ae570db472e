"""The little web toolkit of the local pages: parsed requests, HTML and redirect responses,
a router with path patterns, and the page layout. Server-rendered HTML, no framework."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, unquote

from bridge_local.events import HttpRequest, HttpResponse

MAX_FORM_BYTES = 64 * 1024


def h(value: object) -> str:
    """HTML-escaped text (every value that reaches a page goes through this)."""
    return html.escape("" if value is None else str(value), quote=True)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    cookies: dict[str, str]
    params: dict[str, str] = field(default_factory=dict)  # from the route pattern

    @classmethod
    def parse(cls, request: HttpRequest) -> Request:
        query = {k: v[-1] for k, v in parse_qs(request.raw_query, keep_blank_values=True).items()}
        form: dict[str, str] = {}
        content_type = (request.header("content-type") or "").lower()
        if request.body and content_type.startswith("application/x-www-form-urlencoded"):
            text = request.body[:MAX_FORM_BYTES].decode("utf-8", "replace")
            form = {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}
        cookies: dict[str, str] = {}
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(request.header("cookie") or "")
        except Exception:  # a malformed cookie header is no cookie
            jar = SimpleCookie()
        for name, morsel in jar.items():
            cookies[name] = morsel.value
        return cls(request.method, unquote(request.raw_path), query, form, cookies)

    def field(self, name: str, default: str = "") -> str:
        return self.form.get(name, default).strip()

    def checked(self, name: str) -> bool:
        return name in self.form


def html_response(body: str, status: int = 200, headers: Iterable[tuple[str, str]] = ()) -> HttpResponse:
    return HttpResponse(
        status,
        [("content-type", "text/html; charset=utf-8"), ("cache-control", "no-store"), *headers],
        body.encode("utf-8"),
    )


def redirect(location: str, headers: Iterable[tuple[str, str]] = ()) -> HttpResponse:
    """303 See Other: every form post answers with one (reloading never posts twice)."""
    return HttpResponse(303, [("location", location), *headers], b"")


def file_response(body: bytes, content_type: str, *, cache: bool = True) -> HttpResponse:
    caching = "public, max-age=3600" if cache else "no-store"
    return HttpResponse(200, [("content-type", content_type), ("cache-control", caching)], body)


def not_found() -> HttpResponse:
    return html_response(page("Not found", "<p>There is no such page.</p>"), status=404)


def pretty_json(document: Any) -> str:
    return h(json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True, default=str))


Handler = Callable[[Request], HttpResponse]


class Router:
    """``router.add("GET", "/demo/orders/{order_id}", handler)``; ``{name}`` is one segment."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        regex = re.sub(
            r"\{(\w+)\}", r"(?P<\1>[^/]+)", re.escape(pattern).replace(r"\{", "{").replace(r"\}", "}")
        )
        self._routes.append((method, re.compile(f"^{regex}$"), handler))

    def dispatch(self, request: Request) -> HttpResponse:
        allowed = False
        for method, regex, handler in self._routes:
            found = regex.match(request.path)
            if found is None:
                continue
            if method != request.method and not (method == "GET" and request.method == "HEAD"):
                allowed = True
                continue
            request.params = found.groupdict()
            return handler(request)
        if allowed:
            return html_response(page("Method not allowed", "<p>Not with this method.</p>"), status=405)
        return not_found()


STYLE = """
body{font-family:system-ui,sans-serif;margin:0;color:#1d2430;background:#f5f6f8}
header{background:#233047;color:#fff;padding:.6rem 1.2rem;display:flex;gap:1.2rem;align-items:center}
header a{color:#dfe6f3;text-decoration:none}header a:hover{text-decoration:underline}
header .brand{font-weight:700;color:#fff;margin-right:1rem}
main{display:flex;gap:1.5rem;padding:1.2rem;align-items:flex-start}
.content{flex:1;min-width:0}aside{width:26rem;background:#fff;border:1px solid #d8dde6;padding:.8rem}
section{background:#fff;border:1px solid #d8dde6;padding:.8rem 1rem;margin-bottom:1rem}
h1{font-size:1.4rem;margin:.2rem 0 1rem}h2{font-size:1.1rem;margin:.2rem 0 .6rem}
table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #e3e7ee;padding:.3rem .5rem;text-align:left}
.figure{font-size:1.6rem;font-weight:700}.muted{color:#6a7384}
.flash{background:#e6f4ea;border:1px solid #9bd0a9}
.problem{background:#fdecea;border:1px solid #f1a9a0}form.inline{display:inline}
label{display:block;margin:.3rem 0}input[type=text],input[type=email],input[type=password],input[type=number],
textarea{padding:.3rem;border:1px solid #b8c0cc;border-radius:3px}button{padding:.35rem .9rem;cursor:pointer}
progress{width:20rem;height:1rem}pre{white-space:pre-wrap;background:#f3f4f7;padding:.5rem;font-size:.85rem}
"""


def page(title: str, body: str, *, nav: str = "", aside: str = "", flash: str = "", problem: str = "") -> str:
    notices = ""
    if flash:
        notices += f'<section class="flash" id="flash">{h(flash)}</section>'
    if problem:
        notices += f'<section class="problem" id="problem">{h(problem)}</section>'
    side = f"<aside>{aside}</aside>" if aside else ""
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{h(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style>'
        f'</head><body><header>{nav}</header><main><div class="content"><h1>{h(title)}</h1>'
        f"{notices}{body}</div>{side}</main></body></html>"
    )


def nav_links(brand: str, links: Iterable[tuple[str, str]]) -> str:
    items = "".join(f'<a href="{h(href)}">{h(label)}</a>' for href, label in links)
    return f'<span class="brand">{h(brand)}</span>{items}'


def post_button(action: str, label: str, *, fields: dict[str, str] | None = None, name: str = "") -> str:
    """A one-button form (POST): replay, refund, join..."""
    hidden = "".join(f'<input type="hidden" name="{h(k)}" value="{h(v)}">' for k, v in (fields or {}).items())
    button_name = f' name="{h(name)}"' if name else ""
    return (
        f'<form class="inline" method="post" action="{h(action)}">{hidden}'
        f'<button type="submit"{button_name}>{h(label)}</button></form>'
    )
