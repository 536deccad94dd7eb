"""The API docs page works offline (its assets come from the server) and has an Authorize button."""

from __future__ import annotations

import re

import pytest

from tests.support.api import Api

pytestmark = pytest.mark.slow


async def test_the_docs_page_loads_nothing_from_elsewhere(api: Api) -> None:
    page = await api.http.get("/docs")  # anonymous, like every browser's first visit
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert not re.search(r"https?://", html), "the page refers to another host"
    urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    urls += re.findall(r"""url:\s*'([^']+)'""", html)
    assert {u.rsplit("/", 1)[-1] for u in urls} >= {"swagger-ui-bundle.js", "swagger-ui.css", "openapi.json"}
    for url in urls:
        assert url.startswith("/api/v1/"), url
        asset = await api.http.get(url.removeprefix("/api/v1"))
        assert asset.status_code == 200, url
        assert len(asset.content) > 500, url
    js = await api.http.get("/docs/assets/swagger-ui-bundle.js")
    assert "javascript" in js.headers["content-type"]
    # Dot segments sent as they are (a client normalizes plain "../" away before sending).
    escape = await api.http.get("/docs/assets/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd")
    assert escape.status_code in {401, 404} and "root:" not in escape.text


async def test_the_openapi_document_declares_how_to_authenticate(api: Api) -> None:
    schema = (await api.http.get("/openapi.json")).json()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["accessToken"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": schemes["accessToken"]["description"],
    }
    assert schemes["apiKey"]["scheme"] == "bearer" and "syn_" in schemes["apiKey"]["bearerFormat"]
    paths = schema["paths"]
    for path, method in (("/api/v1/workflows", "post"), ("/api/v1/credentials", "get"), ("/api/v1/auth/me", "get")):
        assert paths[path][method]["security"] == [{"accessToken": []}, {"apiKey": []}], path
    for path, method in (
        ("/api/v1/auth/login", "post"),
        ("/api/v1/health", "get"),
        ("/api/v1/hooks/{workflow_id}", "post"),
    ):
        assert "security" not in paths[path][method], path
