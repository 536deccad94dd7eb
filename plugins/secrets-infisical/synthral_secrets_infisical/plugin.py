"""The plugin's hook implementations, named by the ``synthral.plugins`` entry point."""

from __future__ import annotations

from collections.abc import Sequence

from synthral_sdk import SecretStore, hookimpl
from synthral_secrets_infisical.models import InfisicalConfig
from synthral_secrets_infisical.store import InfisicalStore

__all__ = ["synthral_secret_stores"]


@hookimpl
def synthral_secret_stores() -> Sequence[SecretStore[InfisicalConfig]]:
    """Offer the ``infisical`` secret store."""
    return [InfisicalStore()]
