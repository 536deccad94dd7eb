"""Hook specifications: everything a SynthralOS plugin can provide.

One section per capability kind, as in pytest's ``hookspec.py``. A plugin implements any
subset of these hooks in the module or object its ``synthral.plugins`` entry point names::

    from synthral_sdk import hookimpl

    @hookimpl
    def synthral_nodes():
        return [Greet()]

Each ``synthral_<kind>`` hook returns capability *instances*; the host collects the results
of every plugin. Instances are created once per plugin process and serve many calls,
possibly at the same time, so keep per-call state in locals, not on ``self``.

An implementation may accept a subset of a hook's parameters; adding a parameter to a hook
is therefore a minor SDK release, removing one goes through a deprecation release.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthral_sdk._markers import hookspec

if TYPE_CHECKING:
    from synthral_sdk._ai import AgentFramework, Embedder, LLMProvider, VectorStore
    from synthral_sdk._connector import Connector
    from synthral_sdk._documents import OCREngine
    from synthral_sdk._node import Node, Trigger
    from synthral_sdk._runtime import CodeRuntime, SecretStore

__all__ = [
    "synthral_agent_frameworks",
    "synthral_code_runtimes",
    "synthral_connectors",
    "synthral_embedders",
    "synthral_llm_providers",
    "synthral_nodes",
    "synthral_ocr_engines",
    "synthral_secret_stores",
    "synthral_shutdown",
    "synthral_startup",
    "synthral_triggers",
    "synthral_vector_stores",
]

# -------------------------------------------------------------------------
# Lifecycle
# -------------------------------------------------------------------------


@hookspec
def synthral_startup(data_dir: Path | None) -> None:
    """Prepare the plugin after it is loaded and before the first call.

    Open connection pools, load models, check that a system binary exists. Raising here
    makes ``initialize`` fail with ``PluginLoadError`` carrying the message, so say what is
    missing and how to install it.

    :param data_dir: A directory the plugin may keep state in across restarts and
        upgrades, or ``None`` when run outside a host (in an author's own tests).

    Implemented by: plugins that need set-up. Called in the plugin's own process.

    .. versionadded:: 1.0
    """


@hookspec
def synthral_shutdown() -> None:
    """Release what :func:`synthral_startup` acquired; the process is about to exit.

    Called on an orderly ``shutdown`` only, never after a crash, so do not rely on it for
    durability.

    .. versionadded:: 1.0
    """


# -------------------------------------------------------------------------
# Workflow building blocks
# -------------------------------------------------------------------------


@hookspec
def synthral_nodes() -> Sequence[Node[Any, Any, Any]]:
    """Return the nodes (workflow steps) the plugin offers.

    :return: Instances of :class:`synthral_sdk.Node` subclasses; names must be unique
        within the plugin across all kinds.

    Implemented by: any plugin with workflow steps (HTTP, logic, transforms).

    .. versionadded:: 1.0
    """
    raise NotImplementedError


@hookspec
def synthral_triggers() -> Sequence[Trigger[Any]]:
    """Return the polling triggers the plugin offers.

    :return: Instances of :class:`synthral_sdk.Trigger` subclasses.

    Implemented by: plugins watching a source for new events (RSS, mailboxes, APIs).

    .. versionadded:: 1.0
    """
    raise NotImplementedError


@hookspec
def synthral_connectors() -> Sequence[Connector[Any]]:
    """Return the SaaS connectors the plugin offers.

    A connector's ``actions`` are offered as nodes of the plugin as well; do not return
    them from :func:`synthral_nodes` too.

    :return: Instances of :class:`synthral_sdk.Connector` subclasses.

    Implemented by: one plugin per SaaS service.

    .. versionadded:: 1.0
    """
    raise NotImplementedError


# -------------------------------------------------------------------------
# Documents
# -------------------------------------------------------------------------


@hookspec
def synthral_ocr_engines() -> Sequence[OCREngine[Any]]:
    """Return the OCR engines the plugin offers.

    :return: Instances of :class:`synthral_sdk.OCREngine` subclasses.

    Implemented by: OCR plugins (Tesseract, RapidOCR, docTR...).

    .. versionadded:: 1.0
    """
    raise NotImplementedError


# -------------------------------------------------------------------------
# Retrieval
# -------------------------------------------------------------------------


@hookspec
def synthral_embedders() -> Sequence[Embedder[Any]]:
    """Return the text embedders the plugin offers.

    :return: Instances of :class:`synthral_sdk.Embedder` subclasses.

    Implemented by: embedding model plugins (local sentence transformers, hosted APIs).

    .. versionadded:: 1.0
    """
    raise NotImplementedError


@hookspec
def synthral_vector_stores() -> Sequence[VectorStore[Any]]:
    """Return the vector stores the plugin offers.

    :return: Instances of :class:`synthral_sdk.VectorStore` subclasses.

    Implemented by: vector database plugins (LanceDB, Qdrant, pgvector...).

    .. versionadded:: 1.0
    """
    raise NotImplementedError


# -------------------------------------------------------------------------
# Code
# -------------------------------------------------------------------------


@hookspec
def synthral_code_runtimes() -> Sequence[CodeRuntime[Any]]:
    """Return the sandboxed code runtimes the plugin offers.

    :return: Instances of :class:`synthral_sdk.CodeRuntime` subclasses.

    Implemented by: sandbox plugins (WASI CPython, bubblewrap, E2B).

    .. versionadded:: 1.0
    """
    raise NotImplementedError


# -------------------------------------------------------------------------
# Models and agents
# -------------------------------------------------------------------------


@hookspec
def synthral_llm_providers() -> Sequence[LLMProvider[Any]]:
    """Return the LLM providers the plugin offers.

    :return: Instances of :class:`synthral_sdk.LLMProvider` subclasses.

    Implemented by: plugins for model APIs (OpenAI-compatible servers, Ollama...).

    .. versionadded:: 1.0
    """
    raise NotImplementedError


@hookspec
def synthral_agent_frameworks() -> Sequence[AgentFramework[Any]]:
    """Return the agent frameworks the plugin offers.

    :return: Instances of :class:`synthral_sdk.AgentFramework` subclasses.

    Implemented by: one plugin per framework (LangGraph, CrewAI, AutoGen, Semantic Kernel).

    .. versionadded:: 1.0
    """
    raise NotImplementedError


# -------------------------------------------------------------------------
# Secrets
# -------------------------------------------------------------------------


@hookspec
def synthral_secret_stores() -> Sequence[SecretStore[Any]]:
    """Return the secret stores the plugin offers.

    The host's own encrypted store is the default; a plugin adds another (Infisical,
    Vault) that a workspace can choose.

    :return: Instances of :class:`synthral_sdk.SecretStore` subclasses.

    .. versionadded:: 1.0
    """
    raise NotImplementedError
