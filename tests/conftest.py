"""Shared fixtures: fixture plugin wheels built once, throwaway homes, a plugin host."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path

import pytest
import uvloop

from synthral.config import Settings
from synthral.plugins.host import PluginHost
from synthral.store.db import Database
from tests.support.plugins import build_wheel
from tests.support.postgres import PostgresServer
from tests.support.settings import FIXTURES, GRANT_ALL, REPO, make_settings

# The stand-ins tests start (OAuth providers, LLM endpoints, payment sinks) listen on loopback:
# allowed here as an operator would allow an internal service. Tests of refusals set their own.
os.environ.setdefault("SYNTHRAL_EGRESS_ALLOW", "127.0.0.1,::1,localhost")


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One SDK wheel for the whole session (plugin venvs get it from here)."""
    path = tmp_path_factory.mktemp("wheelhouse")
    old = os.environ.get("SYNTHRAL_WHEELHOUSE")
    os.environ["SYNTHRAL_WHEELHOUSE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("SYNTHRAL_WHEELHOUSE", None)
    else:
        os.environ["SYNTHRAL_WHEELHOUSE"] = old


@pytest.fixture(scope="session")
def fixture_wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every fixture plugin under tests/fixtures/plugins as a wheel, plus noop 2.0.0 and hostile 2.0.0 (any host)."""
    out = tmp_path_factory.mktemp("fixture-wheels")
    sources = {path.name: path for path in sorted(FIXTURES.iterdir()) if (path / "pyproject.toml").is_file()}
    noop2 = tmp_path_factory.mktemp("noop2") / "noop"
    shutil.copytree(FIXTURES / "noop", noop2)
    pyproject = noop2 / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('version = "1.0.0"', 'version = "2.0.0"'))
    sources["noop-2"] = noop2
    hostile2 = tmp_path_factory.mktemp("hostile2") / "hostile"
    shutil.copytree(FIXTURES / "hostile", hostile2)
    pyproject = hostile2 / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('version = "1.0.0"', 'version = "2.0.0"'))
    declared = hostile2 / "synthral_fixture_hostile" / "synthral-plugin.toml"
    declared.write_text(declared.read_text().replace('network = ["127.0.0.1:18431"]', 'network = "any"'))
    sources["hostile-2"] = hostile2

    async def build_all() -> list[Path]:
        return await asyncio.gather(*(build_wheel(src, out / name) for name, src in sources.items()))

    return dict(zip(sources, asyncio.run(build_all()), strict=True))


@pytest.fixture
def settings(tmp_path: Path, wheelhouse: Path) -> Settings:
    return make_settings(tmp_path / "home", wheelhouse)


@pytest.fixture
async def host(settings: Settings) -> AsyncIterator[PluginHost]:
    plugin_host = PluginHost(settings)
    yield plugin_host
    await plugin_host.close()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL server for the session; tests get fresh databases on it."""
    server = PostgresServer.start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'synthral.db'}"
    else:
        server: PostgresServer = request.getfixturevalue("pg_server")
        url = server.create_database(f"t_{uuid.uuid4().hex[:12]}")
    db = Database(url)
    await db.migrate()
    yield db
    await db.close()


@pytest.fixture(scope="session")
def noop_home(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path, fixture_wheels: dict[str, Path]) -> Path:
    """A home with the noop fixture installed, made once; tests must not install into it."""
    home = tmp_path_factory.mktemp("noop-home")

    async def install() -> None:
        plugin_host = PluginHost(make_settings(home, wheelhouse))
        await plugin_host.install(str(fixture_wheels["noop"]), grant=GRANT_ALL)
        await plugin_host.close()

    asyncio.run(install())
    return home


@pytest.fixture
async def noop_host(noop_home: Path, wheelhouse: Path) -> AsyncIterator[PluginHost]:
    """A fresh host (fresh processes) on the shared home with noop installed."""
    plugin_host = PluginHost(make_settings(noop_home, wheelhouse, cancel_grace=1.0))
    yield plugin_host
    await plugin_host.close()


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Async tests run on uvloop, the loop the CLI and the server run on."""
    del config, item
    return {"uvloop": uvloop.new_event_loop}


@pytest.fixture(scope="session")
def code_home(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> Path:
    """A home with the code-bwrap runtime plugin installed from the repository, made once."""
    home = tmp_path_factory.mktemp("code-home")

    async def install() -> None:
        plugin_host = PluginHost(make_settings(home, wheelhouse))
        await plugin_host.install(str(REPO / "plugins" / "code-bwrap"), grant=GRANT_ALL)
        await plugin_host.close()

    asyncio.run(install())
    return home


PRICES = '[models."gpt-test"]\ninput_per_million = 1000.0\noutput_per_million = 2000.0\n'


@pytest.fixture(scope="session")
def ai_home(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path, fixture_wheels: dict[str, Path]) -> Path:
    """A home with the OpenAI-compatible provider, the agent loops and the noop fixture installed."""
    home = tmp_path_factory.mktemp("ai-home")

    async def install() -> None:
        plugins = PluginHost(make_settings(home, wheelhouse))
        for source in (REPO / "plugins" / "llm-openai-compatible", REPO / "plugins" / "agent-loops"):
            await plugins.install(str(source), grant=GRANT_ALL)
        await plugins.install(str(fixture_wheels["noop"]), grant=GRANT_ALL)
        await plugins.close()

    asyncio.run(install())
    (home / "llm-prices.toml").write_text(PRICES)
    return home


@pytest.fixture(scope="session")
def copilot_home(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path, fixture_wheels: dict[str, Path]) -> Path:
    """A home for the chat copilot: the OpenAI-compatible provider, the agent loops, the bwrap code
    runtime and the feedmail fixture (an RSS reader and an email sender to draft with)."""
    home = tmp_path_factory.mktemp("copilot-home")

    async def install() -> None:
        plugins = PluginHost(make_settings(home, wheelhouse))
        for name in ("llm-openai-compatible", "agent-loops", "code-bwrap"):
            await plugins.install(str(REPO / "plugins" / name), grant=GRANT_ALL)
        await plugins.install(str(fixture_wheels["feedmail"]), grant=GRANT_ALL)
        await plugins.close()

    asyncio.run(install())
    (home / "llm-prices.toml").write_text(PRICES)
    return home


@pytest.fixture(scope="session")
def web_home(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> Path:
    """A home with the scrape-html, scrape-playwright and browser-playwright plugins from the repository, made once."""
    home = tmp_path_factory.mktemp("web-home")

    async def install() -> None:
        plugin_host = PluginHost(make_settings(home, wheelhouse))
        for name in ("scrape-html", "browser-playwright", "scrape-playwright"):
            await plugin_host.install(str(REPO / "plugins" / name), grant=GRANT_ALL)
        await plugin_host.close()

    asyncio.run(install())
    return home
