"""The ``infisical`` secret store: secrets in an Infisical project, read and written by a machine identity."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

from synthral_sdk import (
    Context,
    SecretDelete,
    SecretDeleted,
    SecretGet,
    SecretPut,
    SecretStore,
    SecretValue,
    SecretWritten,
)
from synthral_sdk.errors import NonRetryableError
from synthral_secrets_infisical._infisical import (
    CLIENT_ID,
    CLIENT_SECRET,
    Infisical,
    MachineIdentity,
    SecretMissing,
    TokenCache,
    connect,
)
from synthral_secrets_infisical.models import InfisicalConfig, checked_name, folder_for

__all__ = ["InfisicalStore"]

# A 404 whose message (the secret's name left out) speaks of these is about where the store
# looks, not about the secret: Infisical answers 404 for a missing folder or environment too.
_LOCATION_WORDS: Final = re.compile(r"folder|environment|project|path", re.IGNORECASE)


@dataclass
class _Outcome:
    """How a call ended, for its log line."""

    text: str = "failed"


class InfisicalStore(SecretStore[InfisicalConfig]):
    """Secrets kept in one folder of an Infisical project environment.

    The store logs in with Universal Auth as the machine identity whose client id and
    client secret the call is granted (``client_id``, ``client_secret``), and keeps the
    access token until shortly before it expires. A secret that does not exist reads as
    ``value: null``. A refused login or permission fails without retry; a network failure,
    a 429 or a 5xx answer fails as retryable.
    """

    name = "infisical"
    title = "Infisical"
    secrets = (CLIENT_ID, CLIENT_SECRET)

    def __init__(self) -> None:
        self._tokens = TokenCache()

    def get_secret(self, request: SecretGet, config: InfisicalConfig, context: Context) -> SecretValue:
        """Read the secret's current value; ``value`` is ``None`` when Infisical has no such secret.

        Raises:
            InputInvalid: The name cannot be an Infisical key, or the scope a folder name.
            ConfigInvalid: The call was granted no client id or client secret.
            NonRetryableError: The login or the permission was refused, or the folder is missing.
            RetryableError: Infisical could not be reached, timed out, or failed (429, 5xx).
        """
        name = checked_name(request.name)
        folder = folder_for(config, request.scope)
        with self._session(config, context, "get", name, folder) as (infisical, outcome):
            try:
                secret = infisical.run(
                    lambda client: client.secrets.get_secret_by_name(
                        secret_name=name,
                        project_id=config.project_id,
                        environment_slug=config.environment,
                        secret_path=folder,
                    ),
                    f"reading secret '{name}' in {config.environment}:{folder}",
                )
            except SecretMissing as missing:
                _raise_if_about_location(missing, name, config, folder)
                outcome.text = "missing"
                return SecretValue(name=name, value=None)
            outcome.text = f"version {secret.version}"
        return SecretValue(name=name, value=str(secret.secretValue), version=str(secret.version))

    def put_secret(self, request: SecretPut, config: InfisicalConfig, context: Context) -> SecretWritten:
        """Create the secret, or give an existing one a new value (and version).

        Raises:
            InputInvalid: The name cannot be an Infisical key, or the scope a folder name.
            ConfigInvalid: The call was granted no client id or client secret.
            NonRetryableError: The login or the permission was refused, or the folder is missing.
            RetryableError: Infisical could not be reached, timed out, or failed (429, 5xx).
        """
        name = checked_name(request.name)
        folder = folder_for(config, request.scope)
        where = {"project_id": config.project_id, "environment_slug": config.environment, "secret_path": folder}
        what = f"writing secret '{name}' in {config.environment}:{folder}"
        with self._session(config, context, "put", name, folder) as (infisical, outcome):
            try:
                secret = infisical.run(
                    lambda client: client.secrets.update_secret_by_name(
                        current_secret_name=name, secret_value=request.value, **where
                    ),
                    what,
                )
            except SecretMissing as missing:
                _raise_if_about_location(missing, name, config, folder)
                try:
                    secret = infisical.run(
                        lambda client: client.secrets.create_secret_by_name(
                            secret_name=name, secret_value=request.value, **where
                        ),
                        what,
                    )
                except SecretMissing as again:
                    raise _location_error(again, config, folder) from None
            outcome.text = f"version {secret.version}"
        return SecretWritten(name=name, version=str(secret.version))

    def delete_secret(self, request: SecretDelete, config: InfisicalConfig, context: Context) -> SecretDeleted:
        """Delete the secret; ``existed`` says whether there was one.

        Raises:
            InputInvalid: The name cannot be an Infisical key, or the scope a folder name.
            ConfigInvalid: The call was granted no client id or client secret.
            NonRetryableError: The login or the permission was refused, or the folder is missing.
            RetryableError: Infisical could not be reached, timed out, or failed (429, 5xx).
        """
        name = checked_name(request.name)
        folder = folder_for(config, request.scope)
        with self._session(config, context, "delete", name, folder) as (infisical, outcome):
            try:
                infisical.run(
                    lambda client: client.secrets.delete_secret_by_name(
                        secret_name=name,
                        project_id=config.project_id,
                        environment_slug=config.environment,
                        secret_path=folder,
                    ),
                    f"deleting secret '{name}' in {config.environment}:{folder}",
                )
            except SecretMissing as missing:
                _raise_if_about_location(missing, name, config, folder)
                outcome.text = "missing"
                return SecretDeleted(name=name, existed=False)
            outcome.text = "deleted"
        return SecretDeleted(name=name, existed=True)

    @contextmanager
    def _session(
        self, config: InfisicalConfig, context: Context, operation: str, name: str, folder: str
    ) -> Iterator[tuple[Infisical, _Outcome]]:
        """Connect for one call and log one line about it: what, where, the outcome, how long."""
        context.check()
        identity = MachineIdentity.from_secrets(context.secrets)
        remaining = context.time_remaining()
        timeout = config.timeout if remaining is None else max(0.001, min(config.timeout, remaining))
        outcome = _Outcome()
        started = time.perf_counter()
        try:
            with connect(config, identity, self._tokens, timeout) as infisical:
                yield infisical, outcome
        except Exception as exc:
            outcome.text = f"failed ({type(exc).__name__})"
            raise
        finally:
            took = round((time.perf_counter() - started) * 1000)
            context.log.info(
                "%s %s in %s:%s → %s in %d ms", operation, name, config.environment, folder, outcome.text, took
            )


def _location_error(missing: SecretMissing, config: InfisicalConfig, folder: str) -> NonRetryableError:
    return NonRetryableError(
        f"Infisical at {config.site_url} has no folder '{folder}' in environment '{config.environment}' of project "
        f"{config.project_id} ({missing.said}); create the folder in Infisical, or fix secret_path, environment or "
        "project_id in the store's config",
        details={"site": config.site_url, "status": 404, "folder": folder, "environment": config.environment},
    )


def _raise_if_about_location(missing: SecretMissing, name: str, config: InfisicalConfig, folder: str) -> None:
    if _LOCATION_WORDS.search(missing.said.replace(name, "")):
        raise _location_error(missing, config, folder) from None
