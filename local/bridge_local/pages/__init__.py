"""Local-only pages beside the API (``make run``; never deployed, never template routes):

- ``/demo/``: a reference storefront (bridge_local/pages/demo.py; its calls to the bridge,
  the example code to copy, in storefront.py);
- ``/admin/``: an admin console (console.py);
- ``/docs``: Swagger UI of openapi.yaml (docs.py).

The gateway asks ``PagesMount.serves`` before it matches a template route.
"""

from __future__ import annotations

import logging
from pathlib import Path

from bridge_local.events import HttpRequest, HttpResponse
from bridge_local.pages.console import Console
from bridge_local.pages.demo import Demo
from bridge_local.pages.docs import Docs
from bridge_local.pages.outbox import Outbox
from bridge_local.pages.storefront import Storefront
from bridge_local.pages.web import Request, Router, html_response, page

log = logging.getLogger("bridge_local")

PREFIXES = ("/demo", "/admin", "/docs")


def page_prefix(raw_path: str) -> str | None:
    """The pages' prefix ``raw_path`` is under, if any (``/demo``, ``/demo/...``)."""
    return next((p for p in PREFIXES if raw_path == p or raw_path.startswith(p + "/")), None)


class PagesMount:
    name = "pages"

    def __init__(
        self, base_url: str, *, storefront_key: tuple[str, str], admin_key: tuple[str, str], state_dir: Path
    ) -> None:
        outbox = Outbox(state_dir)
        self.shop_api = Storefront(base_url, key_id=storefront_key[0], secret=storefront_key[1])
        self.admin_api = Storefront(base_url, key_id=admin_key[0], secret=admin_key[1])
        self.router = Router()
        self.demo = Demo(self.shop_api, outbox)
        self.demo.routes(self.router)
        Console(self.admin_api, outbox).routes(self.router)
        Docs().routes(self.router)

    def serves(self, raw_path: str) -> bool:
        return page_prefix(raw_path) is not None

    def handle(self, request: HttpRequest) -> HttpResponse:
        try:
            return self.router.dispatch(Request.parse(request))
        except Exception:
            log.exception("page %s %s failed", request.method, request.raw_path)
            return html_response(
                page("Something went wrong", "<p>See the local stack's log.</p>"), status=500
            )

    def close(self) -> None:
        self.shop_api.close()
        self.admin_api.close()
