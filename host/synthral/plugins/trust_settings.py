"""The choices of the plugin trust settings.

:class:`synthral.config.SandboxSettings` and :class:`synthral.config.SupplyChainSettings` name
them; standard library only, so the settings tree need not import the sandbox.
"""

from __future__ import annotations

import enum

__all__ = ["SandboxMode", "SignaturePolicy"]


class SandboxMode(enum.StrEnum):
    """What the host does about the OS sandbox (``SYNTHRAL_PLUGIN_SANDBOX``)."""

    REQUIRED = "required"
    """Every plugin process runs sandboxed; where that is impossible, plugins do not start."""
    IF_AVAILABLE = "if-available"
    """Sandboxed where possible; elsewhere plugins run unsandboxed, and the host says so."""
    OFF = "off"
    """Never sandboxed (debugging); the host says so."""


class SignaturePolicy(enum.StrEnum):
    """Which signatures a plugin wheel must carry to be installed (``SYNTHRAL_PLUGIN_SIGNATURES``)."""

    NONE = "none"
    """Signatures are checked when present and not required."""
    KEYS = "keys"
    """A signature by one of the operator's trusted keys (:mod:`synthral.plugins.signatures`)."""
    SIGSTORE = "sigstore"
    """A Sigstore bundle by one of the operator's trusted identities (:mod:`synthral.plugins.sigstore_bundles`)."""
