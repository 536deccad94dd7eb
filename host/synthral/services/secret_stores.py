"""Secrets from an installed secret-store plugin, for the steps that are granted them.

The host's own encrypted store is the default (``SYNTHRAL_SECRET_STORE=local``). Naming a
secret-store capability instead (``SYNTHRAL_SECRET_STORE=secrets-infisical/infisical``, with
its config as JSON in ``SYNTHRAL_SECRET_STORE_CONFIG``) makes that plugin the source: the
engine awaits ``resolver(names, workspace_id)`` and the resolver asks the plugin, through
the plugin host, for each name. The store's own login secrets (a machine identity, a
token) come from a callable per workspace, and the plugin is handed only those its
capability declares.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Final, cast

import orjson
from jsonschema import Draft202012Validator

from synthral.config import SecuritySettings
from synthral.errors import ConfigurationError, SynthralError
from synthral.plugins.host import PluginHost
from synthral.plugins.proxy import CapabilityHandle
from synthral_sdk import CapabilityKind, SecretValue
from synthral_sdk.types import JSONObject, JSONValue

__all__ = [
    "CONFIG_VARIABLE",
    "CREDENTIAL_PREFIX",
    "DEFAULT_SCOPE",
    "LOCAL_STORE",
    "STORE_VARIABLE",
    "PluginSecretResolver",
    "StoreCredentials",
    "configured_secret_resolver",
    "store_credentials",
]

StoreCredentials = Callable[[str | None], Awaitable[dict[str, str]]]
"""Returns the secret store's own login secrets for a workspace (``None``: no workspace)."""

STORE_VARIABLE: Final = "SYNTHRAL_SECRET_STORE"
"""``local`` (the default) or ``PLUGIN/CAPABILITY`` of an installed secret store."""

CONFIG_VARIABLE: Final = "SYNTHRAL_SECRET_STORE_CONFIG"
"""The plugin store's config, as a JSON object."""

CREDENTIAL_PREFIX: Final = "SYNTHRAL_SECRET_STORE_CREDENTIAL_"
"""Variables :func:`store_credentials` reads the store's login secrets from (through the settings)."""

LOCAL_STORE: Final = "local"
"""The host's own encrypted store."""

DEFAULT_SCOPE: Final = "default"
"""The scope a store is asked for when the call belongs to no workspace."""


class PluginSecretResolver:
    """Resolves a step's granted secrets through a secret-store capability of an installed plugin.

    The capability is looked up on every call, so an upgraded or re-enabled plugin serves
    the next step without a restart. The store is asked for every name at once, with the
    workspace id as the scope.

    Args:
        plugins: The plugin host the capability is installed in.
        capability: ``PLUGIN/CAPABILITY``, e.g. ``secrets-infisical/infisical``.
        config: The capability's config (which Infisical, project, environment, folder…).
        credentials: Returns the store's own login secrets for a workspace.
    """

    def __init__(self, plugins: PluginHost, capability: str, config: JSONObject, credentials: StoreCredentials) -> None:
        self._plugins = plugins
        self._config = config
        self._credentials = credentials
        self.capability = capability

    def __repr__(self) -> str:
        return f"PluginSecretResolver({self.capability!r})"

    def handle(self) -> CapabilityHandle:
        """The store's capability, as installed now.

        Raises:
            UnknownCapability: The reference is malformed or the plugin lacks the capability.
            PluginNotFound: The plugin is not installed.
            PluginDisabled: It is installed but disabled.
            ConfigurationError: The capability is not a secret store.
        """
        handle = self._plugins.resolve(self.capability)
        if handle.kind is not CapabilityKind.SECRET_STORE:
            raise ConfigurationError(
                f"{self.capability} is a {handle.kind.value}, not a secret store; set {STORE_VARIABLE} to the "
                "PLUGIN/CAPABILITY of a secret store ('synthral capabilities' lists them with kind secret_store)",
                details={"store": self.capability, "kind": handle.kind.value},
            )
        return handle

    def check_config(self) -> None:
        """Check the config against the capability's config schema, naming every bad field.

        Raises:
            ConfigurationError: The config does not match, or the capability cannot be used.
        """
        schema = self.handle().spec().config_schema
        problems = []
        for error in sorted(Draft202012Validator(schema).iter_errors(self._config), key=lambda e: list(e.path)):
            where = ".".join(str(part) for part in error.path) or "(root)"
            problems.append(f"field '{where}': {error.message}")
        if problems:
            raise ConfigurationError(
                f"{CONFIG_VARIABLE} does not fit the config of {self.capability}: {'; '.join(problems)}. Fix the JSON "
                f"('synthral capabilities --json' shows the config schema of {self.capability})",
                details={"store": self.capability, "problems": cast(JSONValue, problems)},
            )

    async def __call__(self, names: list[str], workspace_id: str | None = None) -> dict[str, str]:
        """The values of ``names`` for ``workspace_id``, read from the store.

        Raises:
            ConfigurationError: A name is not in the store (the message names every missing
                one and the store), or the store cannot be used.
            SynthralError: What the store raised (a refused login, an unreachable server),
                its message prefixed with the store's name.
        """
        wanted = list(dict.fromkeys(names))
        if not wanted:
            return {}
        handle = self.handle()
        declared = set(handle.spec().secrets)
        offered = await self._credentials(workspace_id)
        granted = {name: value for name, value in offered.items() if name in declared}
        scope = workspace_id or DEFAULT_SCOPE
        results = await asyncio.gather(
            *(self._read(handle, name, scope, granted) for name in wanted), return_exceptions=True
        )
        values: dict[str, str] = {}
        missing: list[str] = []
        for name, result in zip(wanted, results, strict=True):
            if isinstance(result, BaseException):
                raise self._named(result)
            if result is None:
                missing.append(name)
            else:
                values[name] = result
        if missing:
            raise self._missing(missing, workspace_id)
        return values

    async def _read(self, handle: CapabilityHandle, name: str, scope: str, granted: dict[str, str]) -> str | None:
        context = self._plugins.context(secrets=granted)
        output = await handle.call("get_secret", self._config, {"name": name, "scope": scope}, context)
        return SecretValue.model_validate(output).value

    def _named(self, error: BaseException) -> BaseException:
        if isinstance(error, SynthralError):
            error.message = f"secret store {self.capability}: {error.message}"
            error.details.setdefault("store", self.capability)
        return error

    def _missing(self, missing: list[str], workspace_id: str | None) -> ConfigurationError:
        listed = ", ".join(repr(name) for name in missing)
        subject = f"secret {listed} is" if len(missing) == 1 else f"secrets {listed} are"
        where = "" if workspace_id is None else f" for workspace {workspace_id}"
        return ConfigurationError(
            f"{subject} not in the secret store {self.capability}{where}; add "
            f"{'it' if len(missing) == 1 else 'them'} to the store, or take "
            f"{'it' if len(missing) == 1 else 'them'} out of the step's secrets",
            details={"secrets": cast(JSONValue, missing), "store": self.capability, "workspace": workspace_id},
        )


def store_credentials(security: SecuritySettings) -> StoreCredentials:
    """The store's login secrets from ``SYNTHRAL_SECRET_STORE_CREDENTIAL_<NAME>`` variables.

    The same for every workspace: for a single machine without the server's encrypted
    store. ``SYNTHRAL_SECRET_STORE_CREDENTIAL_CLIENT_ID`` becomes the secret ``client_id``.
    """
    values = {name: value.get_secret_value() for name, value in security.secret_store_credentials.items()}

    async def credentials(workspace_id: str | None) -> dict[str, str]:
        del workspace_id
        return dict(values)

    return credentials


def configured_secret_resolver(
    plugins: PluginHost, credentials: StoreCredentials, security: SecuritySettings
) -> PluginSecretResolver | None:
    """Build the resolver ``SYNTHRAL_SECRET_STORE`` asks for; ``None`` means the local store.

    The capability is checked at once (installed, enabled, a secret store, the config fits
    its schema) so that a worker with a wrong setting fails when it starts, not at the
    first step that needs a secret.

    Args:
        plugins: The plugin host the store is installed in.
        credentials: Returns the store's own login secrets for a workspace.
        security: ``settings.security``: the store and its config.

    Raises:
        ConfigurationError: A variable is malformed, or the store cannot be used; the
            message names the variable and the fix.
    """
    choice = security.secret_store.strip() or LOCAL_STORE
    raw_config = security.secret_store_config.strip()
    if choice == LOCAL_STORE:
        if raw_config:
            raise ConfigurationError(
                f"{CONFIG_VARIABLE} is set but {STORE_VARIABLE} is '{LOCAL_STORE}', which takes no config; set "
                f"{STORE_VARIABLE}=PLUGIN/CAPABILITY of a secret-store plugin, or unset {CONFIG_VARIABLE}",
                details={"variable": CONFIG_VARIABLE},
            )
        return None
    plugin, slash, capability = choice.partition("/")
    if not slash or not plugin or not capability or "/" in capability:
        raise ConfigurationError(
            f"{STORE_VARIABLE}={choice!r} is neither '{LOCAL_STORE}' nor PLUGIN/CAPABILITY; set it to '{LOCAL_STORE}' "
            "or to an installed secret store, e.g. secrets-infisical/infisical",
            details={"variable": STORE_VARIABLE},
        )
    resolver = PluginSecretResolver(plugins, choice, _parse_config(raw_config), credentials)
    resolver.check_config()
    return resolver


def _parse_config(raw: str) -> JSONObject:
    if not raw:
        return {}
    try:
        config = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ConfigurationError(
            f"{CONFIG_VARIABLE} is not valid JSON ({exc}); set it to the store's config as a JSON object, e.g. "
            f'{CONFIG_VARIABLE}=\'{{"project_id": "…", "environment": "prod"}}\'',
            details={"variable": CONFIG_VARIABLE},
        ) from None
    if not isinstance(config, dict):
        raise ConfigurationError(
            f"{CONFIG_VARIABLE} is JSON but not an object; set it to the store's config as a JSON object, "
            'e.g. {"project_id": "…", "environment": "prod"}',
            details={"variable": CONFIG_VARIABLE},
        )
    return cast(JSONObject, config)
