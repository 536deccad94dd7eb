"""The API's interactive docs, served whole by the server, and the OpenAPI document's security schemes.

The Swagger UI assets come from the ``swagger-ui-bundle-v2`` package (no CDN: the page works
offline and loads nothing from elsewhere). The OpenAPI document declares how to
authenticate — an access token or an API key, both as ``Authorization: Bearer`` — and marks
every route the gate does not leave public with them, so the page has an Authorize button.
"""

from __future__ import annotations

from typing import Any

import swagger_ui_bundle  # type: ignore[import-untyped]  # a data package: one path, no stubs
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

from synthral.api.gate import PUBLIC_PATHS

__all__ = ["ASSETS", "SECURITY_SCHEMES", "install_docs"]

ASSETS = "/docs/assets"
"""Where the Swagger UI files are served, under the API prefix."""

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "accessToken": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An access token from POST /auth/login (30 minutes; renew with POST /auth/refresh).",
    },
    "apiKey": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "syn_<prefix>_<secret>",
        "description": "An API key from POST /auth/api-keys, for scripts; it acts in its own workspace.",
    },
}
_SECURITY: list[dict[str, list[str]]] = [{"accessToken": []}, {"apiKey": []}]


def install_docs(app: FastAPI, prefix: str) -> None:
    """Serve ``{prefix}/docs`` from packaged assets and add security schemes to ``{prefix}/openapi.json``.

    Create ``app`` with ``docs_url=None``; this installs the page in its place.
    """
    assets = StaticFiles(directory=str(swagger_ui_bundle.swagger_ui_path))
    app.mount(f"{prefix}{ASSETS}", assets, name="docs-assets")

    @app.get(f"{prefix}/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=f"{prefix}/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{prefix}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{prefix}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{prefix}{ASSETS}/favicon-32x32.png",
            swagger_ui_parameters={"persistAuthorization": False},
        )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
            for path, operations in schema.get("paths", {}).items():
                if PUBLIC_PATHS.match(path):
                    continue
                for operation in operations.values():
                    operation["security"] = _SECURITY
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to customise the document
