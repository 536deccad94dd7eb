"""Connectors: which installed plugin version "the connector named X" is, and what it is granted.

**The rule.** A connector's name (its slug) is the name of a ``connector`` capability. The
plugin that offers it is the one plugin with an enabled version offering that name; two
plugins offering the same name are refused everywhere, naming both, until all but one is
disabled. Of that plugin, the newest enabled version answers unless a version is named:
a workflow's pinned version (a webhook delivery is verified with the connector version
the workflow was saved against) or an explicit ``version`` (an action called over the API).

Everything that looks a connector up — the connector routes, OAuth (its auth spec),
webhook ingress (its signing scheme) and action calls (their secrets) — goes through
:class:`ConnectorCatalog`, so the rule holds in one place.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from pydantic import ValidationError

from synthral.errors import ConfigurationError, Conflict, NotFound
from synthral.plugins.host import CatalogEntry, PluginHost
from synthral.plugins.layout import sort_versions
from synthral.services.blob_grants import BlobGrants
from synthral.services.plugins import PluginService
from synthral.services.secrets import CredentialService
from synthral_sdk import AuthSpec, CapabilityKind, CapabilitySpec, WebhookScheme, WebhookSpec
from synthral_sdk.types import JSONObject, JSONValue

if TYPE_CHECKING:
    from synthral.services.connector_testing import ConnectorTestResult
    from synthral.services.oauth import OAuthService

__all__ = ["Connector", "ConnectorCatalog", "ConnectorService"]


@dataclass(frozen=True)
class Connector:
    """One connector at the version the rule picked.

    Attributes:
        slug: Its name, as routes, workflows and credentials call it.
        plugin: The plugin offering it.
        version: The plugin version that answers.
        versions: Every enabled version of that plugin offering it, newest first.
        title: A human name.
        description: What it connects to.
        auth: How a workspace authorises it.
        logo: A logo (a data: URL or a short icon name).
        actions: Its actions' capability names (nodes of the same plugin).
        webhook: How the service signs its webhooks; None when it sends none.
        spec: The connector capability as the plugin declares it.
    """

    slug: str
    plugin: str
    version: str
    versions: tuple[str, ...]
    title: str
    description: str
    auth: AuthSpec
    logo: str
    actions: tuple[str, ...]
    webhook: WebhookSpec | None
    spec: CapabilitySpec

    @property
    def auth_type(self) -> str:
        """``none``, ``api_key``, ``basic`` or ``oauth2``."""
        return self.auth.type

    @property
    def ref(self) -> str:
        """``plugin/slug``: the connector capability (its connection check is an operation of it)."""
        return f"{self.plugin}/{self.slug}"


def _strings(value: object) -> tuple[str, ...]:
    return tuple(str(item) for item in value) if isinstance(value, list) else ()


def _known(model: type[AuthSpec] | type[WebhookSpec], raw: object) -> dict[str, Any]:
    """The fields a model knows (a newer SDK may declare more)."""
    declared = cast(Mapping[str, Any], raw) if isinstance(raw, dict) else {}
    return {key: value for key, value in declared.items() if key in model.model_fields}


def _connector(plugin: str, version: str, versions: tuple[str, ...], spec: CapabilitySpec) -> Connector:
    extra = spec.extra
    try:
        auth = AuthSpec.model_validate(_known(AuthSpec, extra.get("auth")))
        raw_webhook = extra.get("webhook")
        webhook = WebhookSpec.model_validate(_known(WebhookSpec, raw_webhook)) if raw_webhook else None
    except ValidationError as exc:
        raise ConfigurationError(
            f"plugin {plugin} {version} declares an invalid connector {spec.name!r}: "
            f"{exc.errors(include_url=False)[0]['msg']}; upgrade or fix the plugin",
            details={"connector": spec.name, "plugin": plugin},
        ) from None
    logo = extra.get("logo")
    return Connector(
        slug=spec.name,
        plugin=plugin,
        version=version,
        versions=versions,
        title=spec.title or spec.name,
        description=spec.description,
        auth=auth,
        logo=logo if isinstance(logo, str) else spec.icon,
        actions=_strings(extra.get("actions")),
        webhook=webhook,
        spec=spec,
    )


class ConnectorCatalog:
    """Connectors by slug, by the rule in this module's documentation.

    Args:
        plugins: The plugin host whose enabled plugin versions offer them.
    """

    def __init__(self, plugins: PluginHost) -> None:
        self.plugins = plugins

    def _offers(self) -> dict[str, dict[str, dict[str, CapabilitySpec]]]:
        """Slug → plugin → version → spec, for every enabled plugin version."""
        offers: dict[str, dict[str, dict[str, CapabilitySpec]]] = defaultdict(lambda: defaultdict(dict))
        for entry in self.plugins.catalog():
            if entry.spec.kind == CapabilityKind.CONNECTOR:
                offers[entry.spec.name][entry.plugin][entry.version] = entry.spec
        return offers

    def list(self) -> list[Connector]:
        """Every connector at its newest enabled version, by slug (one per plugin offering a slug)."""
        found = []
        for _, plugins in sorted(self._offers().items()):
            for plugin, specs in sorted(plugins.items()):
                versions = tuple(sort_versions(list(specs))[::-1])
                found.append(_connector(plugin, versions[0], versions, specs[versions[0]]))
        return found

    def find(self, slug: str, version: str | None = None) -> Connector | None:
        """The connector named ``slug`` (at ``version`` when given), or None when there is none.

        Raises:
            Conflict: Several plugins offer a connector of that name.
            NotFound: ``version`` is named and that version of its plugin is not enabled.
        """
        plugins = self._offers().get(slug)
        if not plugins:
            return None
        if len(plugins) > 1:
            names = sorted(plugins)
            raise Conflict(
                f"several plugins offer a connector named {slug!r} ({', '.join(names)}); disable all of these "
                "plugins but one",
                details={"connector": slug, "plugins": cast(JSONValue, names)},
            )
        ((plugin, specs),) = plugins.items()
        versions = tuple(sort_versions(list(specs))[::-1])
        chosen = versions[0] if version is None else version
        if chosen not in specs:
            raise NotFound(
                f"version {version} of connector {slug!r} (plugin {plugin}) is not installed or not enabled; "
                f"installed: {', '.join(versions)}",
                details={"connector": slug, "version": version, "versions": cast(JSONValue, list(versions))},
            )
        return _connector(plugin, chosen, versions, specs[chosen])

    def get(self, slug: str, version: str | None = None) -> Connector:
        """The connector named ``slug`` (at ``version`` when given).

        Raises:
            NotFound: There is none (or not at that version).
            Conflict: Several plugins offer a connector of that name.
        """
        connector = self.find(slug, version)
        if connector is None:
            raise NotFound(
                f"no installed plugin offers a connector named {slug[:100]!r}; install its plugin "
                "(GET /connectors/list shows the installed ones)",
                details={"connector": slug[:100]},
            )
        return connector

    def actions(self, connector: Connector) -> tuple[CatalogEntry, ...]:
        """The connector's actions: nodes of its plugin version that name it, as the catalog lists them."""
        return tuple(
            entry
            for entry in self.plugins.catalog()
            if entry.plugin == connector.plugin
            and entry.version == connector.version
            and entry.spec.kind == CapabilityKind.NODE
            and entry.spec.extra.get("connector") == connector.slug
        )

    def triggers(self, connector: Connector) -> tuple[CapabilitySpec, ...]:
        """The triggers of the connector's plugin version."""
        return tuple(
            entry.spec
            for entry in self.plugins.catalog()
            if entry.plugin == connector.plugin
            and entry.version == connector.version
            and entry.spec.kind == CapabilityKind.TRIGGER
        )

    def pinned(self, slug: str, pins: Mapping[str, str]) -> Connector:
        """The connector at the version a workflow version pins for its plugin (newest if it pins none)."""
        newest = self.get(slug)
        return self.get(slug, pins.get(newest.plugin))

    async def auth_spec(self, slug: str) -> AuthSpec | None:
        """How a workspace authorises the connector (for OAuth); None when there is no such connector."""
        connector = self.find(slug)
        return connector.auth if connector is not None else None

    def webhook_scheme(self, slug: str, pins: Mapping[str, str]) -> WebhookScheme:
        """The scheme the connector's deliveries are verified with, at the workflow's pinned version.

        Raises:
            NotFound: No such connector.
            ConfigurationError: It accepts no webhooks.
        """
        connector = self.pinned(slug, pins)
        if connector.webhook is None:
            raise ConfigurationError(
                f"connector {slug!r} ({connector.plugin} {connector.version}) does not accept webhooks; "
                "remove 'connector' from the workflow's webhook trigger",
                details={"connector": slug},
            )
        return connector.webhook.scheme


class ConnectorService:
    """What a workspace does with connectors: the secrets an action call is granted, and the call.

    Args:
        catalog: Which connector version answers.
        credentials: The workspace's credentials (an API key connector's values).
        oauth: Fresh access tokens of OAuth connectors.
        plugin_service: Calls the action.
    """

    def __init__(
        self,
        catalog: ConnectorCatalog,
        credentials: CredentialService,
        oauth: OAuthService,
        plugin_service: PluginService,
    ) -> None:
        self.catalog = catalog
        self.credentials = credentials
        self.oauth = oauth
        self.plugin_service = plugin_service
        self.grants = BlobGrants(credentials.database)

    async def secrets(self, workspace_id: str, connector: Connector) -> dict[str, str]:
        """The secrets an action call of ``connector`` is granted: the workspace's credential for it, fresh.

        Raises:
            NotFound: The workspace has not connected it yet.
        """
        if connector.auth_type == "oauth2":
            return {"access_token": await self.oauth.access_token(workspace_id, connector.slug)}
        if connector.auth_type == "none":
            return {}
        value = await self.credentials.get_value(workspace_id, connector.slug)
        if isinstance(value, dict):
            return {str(k): v if isinstance(v, str) else str(v) for k, v in value.items()}
        return {"api_key": value}

    async def invoke(
        self, workspace_id: str, slug: str, action: str, payload: JSONObject, *, version: str | None = None
    ) -> JSONObject:
        """Call one of the connector's actions now, with the workspace's credential for it.

        The files the action answers (as blob references) are granted to the workspace.

        Raises:
            NotFound: No such connector, version or action.
            Conflict: Several plugins offer a connector of that name.
            BlobNotFound: The payload names a blob the workspace was not given.
        """
        connector = self.catalog.get(slug, version)
        if action not in connector.actions:
            raise NotFound(
                f"connector {slug!r} has no action {action[:100]!r}; its actions are: "
                f"{', '.join(connector.actions) or 'none'}",
                details={"connector": slug, "action": action[:100]},
            )
        await self.grants.check(workspace_id, payload)
        secrets = await self.secrets(workspace_id, connector)
        output = await self.plugin_service.invoke(
            f"{connector.plugin}/{action}",
            payload=payload,
            version=connector.version,
            secrets=secrets,
            workspace_id=workspace_id,  # the workspace's network policy
        )
        await self.grants.grant(workspace_id, output)
        return output

    async def test(
        self,
        workspace_id: str,
        slug: str,
        *,
        action: str | None = None,
        payload: JSONObject | None = None,
        config: JSONObject | None = None,
        version: str | None = None,
    ) -> ConnectorTestResult:
        """Call one action (the connection check when ``action`` is None) with the workspace's credential.

        A failure of the call is the result, not an error (see
        :mod:`synthral.services.connector_testing`).

        Raises:
            NotFound: No such connector, version or action, or the workspace has not connected it.
            Conflict: Several plugins offer a connector of that name.
            ConfigurationError: No input was given and the action declares no example.
            BlobNotFound: The payload or config names a blob the workspace was not given.
        """
        from synthral.services.connector_testing import run_connector_test  # noqa: PLC0415 -- it imports the catalog

        await self.grants.check(workspace_id, {"payload": payload, "config": config})
        connector = self.catalog.get(slug, version)
        secrets = await self.secrets(workspace_id, connector)
        return await run_connector_test(
            self.catalog, connector, secrets=secrets, action=action, payload=payload, config=config
        )
