"""``synthral connector build``: a declared connector folder becomes a plugin project and a wheel.

A bare folder (``app.json``, ``functions.json``, optionally ``actions.py`` with hand-written
node classes in ``ACTIONS``) is checked, laid out as a project (``pyproject.toml`` naming
``synthral-connector-<app>`` at the app's version, the definition as package data, the
permissions it declares, a generated README) and built. A folder that already is such a project is checked and built
as it stands. The definition is read as data; the host never imports ``actions.py``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Final

from synthral.errors import ConfigurationError
from synthral.plugins.wheels import build_wheel
from synthral.services.connector_docs import ConnectorDocs, render_docs
from synthral_sdk.permissions import PERMISSIONS_FILE
from synthral_sdk.rest import APP_FILE, FUNCTIONS_FILE, ConnectorDefinition, build_capabilities, load_definition

__all__ = [
    "ACTIONS_FILE",
    "build_connector",
    "declared_permissions",
    "definition_docs",
    "find_definition",
    "write_project",
]

ACTIONS_FILE: Final = "actions.py"
SDK_REQUIREMENT: Final = "synthral-sdk>=1.7,<2"
_CREDENTIAL_KINDS: Final = {"api_key": "api_key", "http_bearer": "api_key", "http_basic": "basic", "oauth2": "oauth2"}

_PLUGIN_MODULE: Final = '''"""The connector's hooks: {title} declared as data, run by the SDK's REST runtime."""

from synthral_sdk.rest import DeclaredPlugin
{import_actions}
__all__ = ["plugin", "synthral_connectors", "synthral_nodes", "synthral_triggers"]

plugin = DeclaredPlugin.from_module(__name__{extra})
synthral_connectors, synthral_nodes, synthral_triggers = plugin.hooks()
'''


def _names(definition: ConnectorDefinition) -> tuple[str, str, str]:
    slug = definition.app.slug
    return (
        f"connector-{slug.replace('_', '-')}",
        f"synthral-connector-{slug.replace('_', '-')}",
        f"synthral_connector_{slug}",
    )


def find_definition(folder: Path) -> Path:
    """The folder holding ``app.json``: ``folder`` itself or its one package.

    Raises:
        ConfigurationError: None or several found.
    """
    if (folder / APP_FILE).is_file():
        return folder
    found = sorted(p.parent for p in folder.glob(f"*/{APP_FILE}"))
    if len(found) != 1:
        raise ConfigurationError(
            f"{folder} holds no connector definition ({APP_FILE} and {FUNCTIONS_FILE}) at its top or in one package; "
            "write them, or generate them with 'synthral connector import-openapi SPEC --out DIR'",
            details={"folder": str(folder)},
        )
    return found[0]


def definition_docs(definition: ConnectorDefinition, plugin: str = "") -> str:
    """The generated Markdown docs of a definition (no import of hand-written actions)."""
    connector, triggers = build_capabilities(definition)
    actions = [action().spec() for action in connector.actions]
    examples = {
        f.action_name(definition.app.name): [e.model_dump() for e in f.examples]
        for f in definition.functions
        if f.examples
    }
    return render_docs(
        ConnectorDocs(
            connector=connector.spec(),
            actions=actions,
            triggers=[t.spec() for t in triggers],
            plugin=plugin,
            version=definition.app.version,
            examples=examples,
        )
    )


def _host_of(url: str) -> str:
    """The host (and port) of a server URL, placeholders as ``*``: ``{site}.atlassian.net`` → ``*.atlassian.net``."""
    authority = url.split("://", 1)[-1].split("/", 1)[0].lower()
    labels = authority.split(".")
    templated = [index for index, label in enumerate(labels) if "{" in label or "}" in label]
    if templated:
        labels = ["*", *labels[templated[-1] + 1 :]]
    return ".".join(labels)


def declared_permissions(definition: ConnectorDefinition) -> str:
    """The ``synthral-plugin.toml`` of a declared connector: the hosts of its server URLs, the credential it is handed.

    A node's ``base_url`` (a self-hosted instance, a stand-in) reaches another host only when
    whoever installs the connector grants that host too.
    """
    urls = [definition.app.server_url] + [
        f.protocol_data.server_url for f in definition.functions if f.protocol_data.server_url
    ]
    hosts = list(dict.fromkeys(_host_of(url) for url in urls))
    network = '"any"' if {"", "*"} & set(hosts) else json.dumps(hosts)  # a host chosen in full by the credential
    kinds = sorted({_CREDENTIAL_KINDS[kind] for kind in definition.app.security_schemes if kind in _CREDENTIAL_KINDS})
    lines = [
        "# What this connector may do; the host shows it at install and its sandbox allows nothing else.",
        "# A node's base_url on another host (a self-hosted instance) needs that host granted too.",
        "[permissions]",
        f"network = {network}",
    ]
    if kinds:
        lines.append(f"secrets = {json.dumps(kinds)}")
    return "\n".join(lines) + "\n"


def write_project(source: Path, dest: Path) -> Path:
    """Lay out a bare connector folder as a plugin project in ``dest``; return the project folder.

    Raises:
        ConfigurationError: The definition is wrong (the message names file and field), or
            ``dest`` exists and is not empty.
    """
    definition = load_definition(source)
    plugin, dist, package = _names(definition)
    if dest.exists() and any(dest.iterdir()):
        raise ConfigurationError(f"{dest} exists and is not empty; choose another --project folder or empty it")
    pkg = dest / package
    pkg.mkdir(parents=True)
    for name in (APP_FILE, FUNCTIONS_FILE):
        shutil.copy2(source / name, pkg / name)
    has_actions = (source / ACTIONS_FILE).is_file()
    if has_actions:
        shutil.copy2(source / ACTIONS_FILE, pkg / ACTIONS_FILE)
    (pkg / "__init__.py").write_text(f'"""{definition.app.display_name} connector for SynthralOS."""\n')
    (pkg / PERMISSIONS_FILE).write_text(declared_permissions(definition))
    (pkg / "py.typed").write_text("")
    (pkg / "plugin.py").write_text(
        _PLUGIN_MODULE.format(
            title=definition.app.display_name,
            import_actions=f"\nfrom {package}.actions import ACTIONS\n" if has_actions else "",
            extra=", tuple(ACTIONS)" if has_actions else "",
        )
    )
    (dest / "README.md").write_text(definition_docs(definition, plugin))
    description = json.dumps(definition.app.description.split("\n")[0][:200] or definition.app.display_name)
    (dest / "pyproject.toml").write_text(
        f"""[project]
name = "{dist}"
version = "{definition.app.version}"
description = {description}
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["{SDK_REQUIREMENT}"]

[project.entry-points."synthral.plugins"]
{plugin} = "{package}.plugin"

[build-system]
requires = ["hatchling>=1.25"]
build-backend = "hatchling.build"

[tool.hatch.build.targets.wheel]
packages = ["{package}"]
"""
    )
    return dest


async def build_connector(source: Path, out_dir: Path) -> Path:
    """Check a connector folder (bare or a project) and build its wheel into ``out_dir``.

    Returns:
        The wheel's path.

    Raises:
        ConfigurationError: The folder holds no definition or a wrong one.
        InstallError: The build failed (the message carries the build's output).
    """
    source = source.resolve()  # noqa: ASYNC240 -- a few stat calls before a build that takes seconds
    if not source.is_dir():
        raise ConfigurationError(f"{source} is not a folder; pass the connector's folder")
    load_definition(find_definition(source))
    out_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 -- as above
    if (source / "pyproject.toml").is_file():
        return await build_wheel(source, out_dir)
    with tempfile.TemporaryDirectory(prefix="synthral-connector-") as scratch:
        project = write_project(source, Path(scratch) / "project")
        return await build_wheel(project, out_dir)
