"""The web app's static files at ``/``: hashed assets cached for a year, ``index.html`` for client routes.

The built app (``web/dist`` after ``npm run build``) ships inside the wheel as
``synthral/web``; a source checkout serves ``web/dist`` directly. Anything under ``/api``
is never answered here: an unknown API path stays a problem+json 404.
"""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path

from fastapi import FastAPI, Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from synthral.api.problems import problem

__all__ = ["SECURITY_HEADERS", "install_web", "web_root"]

ASSET_CACHE = "public, max-age=31536000, immutable"
SECURITY_HEADERS = {
    # Plugin icons may be data: URLs; Monaco runs its workers from our own origin; the
    # component library injects <style> tags, hence 'unsafe-inline' for styles only.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
        "font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_TOP_LEVEL_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,100}\.(?:ico|png|svg|txt|webmanifest|json|html)$")

NOT_BUILT = """<!doctype html><meta charset="utf-8"><title>SynthralOS</title>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto; line-height: 1.5">
<h1>The web app is not built</h1>
<p>This server runs from a source checkout without the web app's build. Build it once:</p>
<pre>cd web &amp;&amp; npm ci &amp;&amp; npm run build</pre>
<p>then reload this page. The API answers at <a href="/api/v1/docs">/api/v1/docs</a>.</p>
"""


def web_root(override: Path | None = None) -> Path | None:
    """The built web app: ``override`` (``settings.server.web_root``) when set, else the wheel's or a checkout's."""
    package = Path(__file__).resolve().parent.parent
    candidates = [Path(override)] if override else [package / "web", package.parent.parent / "web" / "dist"]
    for candidate in candidates:
        if (candidate / "index.html").is_file():
            return candidate
    return None


class _Assets(StaticFiles):
    """Content-hashed files: a changed file has a new name, so browsers may keep each for good.

    The build writes a gzip copy (``name.js.gz``) of each large text file; a browser that
    accepts gzip gets it, so nothing is compressed per request.
    """

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await self._compressed(path, scope) or await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["Cache-Control"] = ASSET_CACHE
            response.headers["X-Content-Type-Options"] = "nosniff"
            response.headers["Vary"] = "Accept-Encoding"
        return response

    async def _compressed(self, path: str, scope: Scope) -> Response | None:
        accepted = dict(scope.get("headers") or []).get(b"accept-encoding", b"")
        if b"gzip" not in accepted or path.endswith(".gz"):
            return None
        full, stat = self.lookup_path(path + ".gz")
        if stat is None or not full:
            return None
        media_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
        return FileResponse(full, media_type=media_type, headers={"Content-Encoding": "gzip"}, stat_result=stat)


def install_web(app: FastAPI, root: Path | None) -> None:
    """Serve the app in ``root`` at ``/`` (or a page saying how to build it when ``root`` is None)."""
    if root is not None and (root / "assets").is_dir():
        app.mount("/assets", _Assets(directory=root / "assets"), name="assets")

    @app.api_route("/api/{path:path}", methods=_ALL_METHODS, include_in_schema=False)
    async def unknown_api(path: str) -> Response:
        # Every method: a DELETE to a path no route owns is a 404, not a 405 from the page route.
        return problem(404, f"no API route /api/{path}; see /api/v1/docs", code="http_404")

    @app.get("/{path:path}", include_in_schema=False)
    async def page(path: str, request: Request) -> Response:
        del request
        if path == "api":
            return problem(404, "no API route /api; see /api/v1/docs", code="http_404")
        if root is None:
            return HTMLResponse(NOT_BUILT, status_code=503, headers={"Cache-Control": "no-store"})
        if _TOP_LEVEL_FILE.match(path) and (root / path).is_file():
            return FileResponse(root / path, headers={"Cache-Control": "public, max-age=3600", **SECURITY_HEADERS})
        # Every other path is a route of the app itself: the client router reads the URL.
        return FileResponse(root / "index.html", headers={"Cache-Control": "no-cache", **SECURITY_HEADERS})
