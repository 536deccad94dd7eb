"""The web app at ``/``: hashed assets cached for good, index.html for client routes, the API untouched."""

from __future__ import annotations

import gzip
from pathlib import Path

import httpx
import pytest

from synthral.api.web import ASSET_CACHE
from synthral.store.db import Database
from tests.support.api import make_state, serving


def _dist(root: Path) -> Path:
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text('<!doctype html><div id="root"></div><script src="/assets/app-1a2b.js"></script>')
    (root / "assets" / "app-1a2b.js").write_text("console.log('app')")
    (root / "assets" / "app-1a2b.js.gz").write_bytes(gzip.compress(b"console.log('app')"))
    (root / "favicon.svg").write_text("<svg/>")
    (root.parent / "secret.txt").write_text("outside the app")
    return root


async def test_client_routes_get_the_page_and_assets_are_cached_for_good(
    database: Database, noop_home: Path, wheelhouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNTHRAL_WEB_ROOT", str(_dist(tmp_path / "dist")))
    state, plugins = await make_state(database, noop_home, wheelhouse)
    async with serving(state) as url, httpx.AsyncClient(base_url=url) as http:
        for path in ("/", "/workflows/abc/edit", "/executions?status=failed"):
            page = await http.get(path)
            assert page.status_code == 200 and 'id="root"' in page.text
            assert page.headers["cache-control"] == "no-cache"
            assert "script-src 'self'" in page.headers["content-security-policy"]
            assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        asset = await http.get("/assets/app-1a2b.js")
        assert asset.status_code == 200 and asset.headers["cache-control"] == ASSET_CACHE
        assert asset.headers["content-encoding"] == "gzip" and asset.text == "console.log('app')"
        assert asset.headers["content-type"].startswith("text/javascript")
        plain = await http.get("/assets/app-1a2b.js", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers and plain.text == "console.log('app')"
        assert (await http.get("/assets/missing-9z.js")).status_code == 404
        assert (await http.get("/favicon.svg")).text == "<svg/>"
        escape = await http.get("/assets/..%2F..%2Fsecret.txt")
        assert "outside the app" not in escape.text
        api = await http.get("/api/v1/no-such-route")  # the gate answers first: never the page
        assert api.status_code == 401 and api.headers["content-type"] == "application/problem+json"
        assert (await http.get("/api/v1/health")).json() == {"status": "ok"}
        anonymous = await http.get("/api/v1/workflows")
        assert anonymous.status_code == 401
    await plugins.close()


async def test_without_a_build_the_page_says_how_to_make_one(
    database: Database, noop_home: Path, wheelhouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNTHRAL_WEB_ROOT", str(tmp_path / "nothing-here"))
    state, plugins = await make_state(database, noop_home, wheelhouse)
    async with serving(state) as url, httpx.AsyncClient(base_url=url) as http:
        page = await http.get("/")
        assert page.status_code == 503 and "npm run build" in page.text
    await plugins.close()
