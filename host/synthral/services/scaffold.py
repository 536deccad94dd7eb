"""``synthral plugin new``: a third-party plugin project whose tests pass out of the box."""

from __future__ import annotations

import os
import re
from pathlib import Path
from string import Template

import synthral_sdk
from synthral.errors import ConfigurationError
from synthral.plugins.wheels import sdk_source_dir

__all__ = ["scaffold_plugin"]

_NAME = re.compile(r"[a-z][a-z0-9-]{0,40}")

_PYPROJECT = Template("""[project]
name = "$dist"
version = "0.1.0"
description = "A SynthralOS plugin"
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["synthral-sdk>=$sdk_min,<$sdk_next"]

[project.entry-points."synthral.plugins"]
$name = "$package.plugin"

[dependency-groups]
dev = ["pytest>=8"]
$sources
[build-system]
requires = ["hatchling>=1.25"]
build-backend = "hatchling.build"

[tool.hatch.build.targets.wheel]
packages = ["$package"]

[tool.pytest.ini_options]
testpaths = ["tests"]
addopts = "--strict-markers"
filterwarnings = ["error"]
""")

_README = Template("""# $dist

A SynthralOS plugin offering the node `$name/greet`.

```bash
uv run pytest                          # unit tests and the SDK's conformance suite
uv build --wheel                       # dist/*.whl
synthral plugin install .              # install into a host, in its own venv
synthral invoke $name/greet --input '{"who": "Ada"}'
```

The project depends on `synthral-sdk` by version, from your package index. Where the index
does not have it yet, build the SDK's wheel from a SynthralOS checkout and let uv find it:

```bash
uv build --wheel --out-dir ~/synthral-wheels path/to/synthralos/sdk
export UV_FIND_LINKS=~/synthral-wheels           # or: uv run --find-links ~/synthral-wheels pytest
```

Publish the wheel to a package index (`uv publish`); users then install it with
`synthral plugin install $dist==0.1.0`.
""")

_INIT = Template('''"""$dist: a SynthralOS plugin."""
''')

_PLUGIN = Template('''"""Hook implementations: what this plugin offers the host."""

from synthral_sdk import hookimpl

from $package.nodes import Greet


@hookimpl
def synthral_nodes() -> list[Greet]:
    """The nodes of this plugin."""
    return [Greet()]
''')

_NODES = Template('''"""The plugin's nodes."""

from pydantic import BaseModel, Field
from synthral_sdk import Context, Node


class GreetInput(BaseModel):
    """Who to greet."""

    who: str = Field(min_length=1, description="A name.")


class GreetOutput(BaseModel):
    """The greeting."""

    text: str


class GreetConfig(BaseModel):
    """How to greet."""

    greeting: str = Field(default="Hello", description="The word to greet with.")


class Greet(Node[GreetInput, GreetOutput, GreetConfig]):
    """Greets someone by name."""

    name = "greet"
    title = "Greet"

    def run(self, inputs: GreetInput, config: GreetConfig, context: Context) -> GreetOutput:
        context.log.info("greeting %s", inputs.who)
        return GreetOutput(text=f"{config.greeting}, {inputs.who}!")
''')

_TESTS = Template("""from synthral_sdk.errors import InputInvalid
from synthral_sdk.testing import Example, PluginConformance, call

from $package.nodes import Greet


def test_greets_by_name() -> None:
    assert call(Greet(), {"who": "Ada"}) == {"text": "Hello, Ada!"}


def test_greeting_is_configurable() -> None:
    assert call(Greet(), {"who": "Ada"}, config={"greeting": "Hi"}) == {"text": "Hi, Ada!"}


def test_empty_name_is_rejected() -> None:
    try:
        call(Greet(), {"who": ""})
    except InputInvalid as exc:
        assert "who" in exc.message
    else:
        raise AssertionError("an empty name was accepted")


class TestConformance(PluginConformance):
    dist = "$dist"
    examples = [Example("greet", {"who": "Ada"}, expected={"text": "Hello, Ada!"})]
""")

_GITIGNORE = ".venv/\n__pycache__/\ndist/\n"


_PERMISSIONS = Template(
    """# What this plugin may do; the host shows it at install and its sandbox allows nothing else.
# The conformance suite (tests/test_plugin.py) runs the plugin in the same sandbox.
# See docs/plugin-security.md. Uncomment what it needs:
[permissions]
# network = ["api.example.com"]   # hosts (and ports) it connects to, or "any"
# files = "data"                  # "data": its own data folder; "paths": folders the operator chooses
# secrets = ["api_key"]           # kinds of credential it is handed: secret, api_key, basic, oauth2, or "any"
# subprocesses = ["tesseract"]    # programs it runs, or "any"
# memory_mb = 512                 # more memory than the host's default
"""
)


def scaffold_plugin(name: str, directory: Path, *, dist: str | None = None, first_party: bool = False) -> Path:
    """Write a new plugin project for ``name`` into ``directory/name`` and return its path.

    The project depends on ``synthral-sdk`` by version (this SDK's minor or later, same
    major), as a third-party project must. ``first_party`` (a plugin kept in a SynthralOS
    checkout, next to its SDK) takes the SDK from the checkout instead, by a relative path.

    Raises:
        ConfigurationError: The name is not valid, the target folder exists, or
            ``first_party`` is asked for while the host does not run from a checkout.
    """
    if not _NAME.fullmatch(name):
        raise ConfigurationError(
            f"plugin name {name!r} must start with a letter and hold only lowercase letters, digits and '-'"
        )
    dist = dist or (name if name.startswith("synthral-") else f"synthral-{name}")
    plugin_name = name.removeprefix("synthral-")
    package = dist.replace("-", "_")
    target = directory / plugin_name
    if target.exists():
        raise ConfigurationError(f"{target} exists already; choose another name or --dir")
    major, minor = (int(part) for part in synthral_sdk.__version__.split(".")[:2])
    sources = ""
    if first_party:
        sdk_dir = sdk_source_dir()
        if sdk_dir is None:
            raise ConfigurationError(
                "--first-party takes the SDK from a SynthralOS checkout, and this host's SDK is installed from a "
                "package; leave the option out (the project then depends on synthral-sdk by version)"
            )
        relative = Path(os.path.relpath(sdk_dir, target.resolve())).as_posix()
        sources = f'\n[tool.uv.sources]\nsynthral-sdk = {{ path = "{relative}", editable = true }}\n'
    values = {
        "dist": dist,
        "name": plugin_name,
        "package": package,
        "sdk_min": f"{major}.{minor}",
        "sdk_next": str(major + 1),
        "sources": sources,
    }
    files = {
        "pyproject.toml": _PYPROJECT,
        "README.md": _README,
        f"{package}/__init__.py": _INIT,
        f"{package}/synthral-plugin.toml": _PERMISSIONS,
        f"{package}/plugin.py": _PLUGIN,
        f"{package}/nodes.py": _NODES,
        "tests/test_plugin.py": _TESTS,
    }
    for relative, template in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.substitute(values))
    (target / package / "py.typed").write_text("")
    (target / ".gitignore").write_text(_GITIGNORE)
    return target
