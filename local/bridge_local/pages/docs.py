"""``/docs``: Swagger UI of openapi.yaml, its assets served from the flask-swagger-ui package
(Swagger UI 5, which reads OpenAPI 3.1; only its ``dist/`` files are used, not Flask). No
CDN and no online validator: the page works offline."""

from __future__ import annotations

import importlib.util
import mimetypes
from pathlib import Path

from bridge_local.events import HttpResponse
from bridge_local.pages.web import Request, Router, file_response, html_response, not_found
from bridge_local.template import PROJECT_ROOT

OPENAPI = PROJECT_ROOT / "openapi.yaml"
ASSETS = (
    "swagger-ui.css",
    "index.css",
    "swagger-ui-bundle.js",
    "swagger-ui-standalone-preset.js",
    "favicon-32x32.png",
    "favicon-16x16.png",
)

INDEX = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>loyalty-bridge API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
<link rel="stylesheet" href="/docs/assets/index.css">
<link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png" sizes="32x32"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/swagger-ui-standalone-preset.js"></script>
<script>
window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "/docs/openapi.yaml",
    dom_id: "#swagger-ui",
    validatorUrl: null,  // never send the document to an online validator
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: "StandaloneLayout"
  });
};
</script></body></html>
"""


def assets_dir() -> Path:
    """flask-swagger-ui's ``dist/``, found without importing the package (and Flask)."""
    spec = importlib.util.find_spec("flask_swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("flask-swagger-ui is not installed (pip install -e '.[dev]')")
    return Path(next(iter(spec.submodule_search_locations))) / "dist"


class Docs:
    def __init__(self, openapi: Path = OPENAPI) -> None:
        self.openapi = openapi

    def routes(self, router: Router) -> None:
        router.add("GET", "/docs", self.index)
        router.add("GET", "/docs/", self.index)
        router.add("GET", "/docs/openapi.yaml", self.document)
        router.add("GET", "/docs/assets/{name}", self.asset)

    def index(self, request: Request) -> HttpResponse:
        return html_response(INDEX)

    def document(self, request: Request) -> HttpResponse:
        return file_response(self.openapi.read_bytes(), "application/yaml; charset=utf-8", cache=False)

    def asset(self, request: Request) -> HttpResponse:
        name = request.params["name"]
        if name not in ASSETS:
            return not_found()
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return file_response((assets_dir() / name).read_bytes(), kind)
