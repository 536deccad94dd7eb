"""A home with the default embedder and vector store installed from their folders, made once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from synthral.plugins.host import PluginHost
from synthral.plugins.permissions import GrantRequest
from tests.conftest import make_settings

__all__ = ["REPO", "rag_home"]

REPO = Path(__file__).resolve().parents[2]
RAG_PLUGINS = ("embed-model2vec", "vector-lancedb")


@pytest.fixture(scope="session")
def rag_home(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path, fixture_wheels: dict[str, Path]) -> Path:
    """A home with embed-model2vec, vector-lancedb, and the llm-echo and vectors-v1 fixtures.

    Tests must not install into it.
    """
    home = tmp_path_factory.mktemp("rag-home")

    async def install() -> None:
        plugin_host = PluginHost(make_settings(home, wheelhouse))
        for name in RAG_PLUGINS:
            await plugin_host.install(str(REPO / "plugins" / name), grant=GrantRequest(items=["all"]))
        for fixture in ("llm-echo", "vectors-v1"):
            await plugin_host.install(str(fixture_wheels[fixture]), grant=GrantRequest(items=["all"]))
        await plugin_host.close()

    asyncio.run(install())
    return home
