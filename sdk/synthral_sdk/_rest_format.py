"""The declarative connector format: an app definition and its function definitions.

The shapes follow ACI.dev's ``app.json`` and ``functions.json`` (security schemes keyed by
type; functions named ``APP__ACTION`` with ``protocol_data`` and ``parameters`` grouped into
``path``, ``query``, ``header`` and ``body``). SynthralOS adds what ACI leaves to code:
``response`` (where the result sits), ``pagination``, ``examples``, ``triggers`` (polling
with a cursor), ``webhook`` and ``test`` (the connection check). docs/connectors.md lists
every field.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, field_validator, model_validator

from synthral_sdk.errors import ConfigurationError
from synthral_sdk.webhooks import WebhookScheme

__all__ = [
    "APP_FILE",
    "FUNCTIONS_FILE",
    "AppDefinition",
    "ConnectorDefinition",
    "CredentialFieldDef",
    "Example",
    "FunctionDefinition",
    "Pagination",
    "ProtocolData",
    "ResponseSpec",
    "SecurityScheme",
    "TriggerDefinition",
    "WebhookDef",
    "load_definition",
]

APP_FILE: Final = "app.json"
FUNCTIONS_FILE: Final = "functions.json"
APP_NAME: Final = re.compile(r"[A-Z][A-Z0-9_]{0,40}")
SEMVER: Final = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?")
PARAMETER_GROUPS: Final = ("path", "query", "header", "cookie", "body")
SchemeType = Literal["no_auth", "api_key", "http_bearer", "http_basic", "oauth2"]


class CredentialFieldDef(BaseModel):
    """A field of the connector's credential; non-secret ones may fill ``{name}`` in the server URL."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,40}$")
    title: str = ""
    secret: bool = True
    description: str = ""


class SecurityScheme(BaseModel):
    """One way to authenticate (ACI's ``security_schemes`` value)."""

    model_config = ConfigDict(extra="allow")

    location: Literal["header", "query", "cookie", "url"] = Field(
        default="header", description="'url': the credential only fills '{field}' in the server URL (Telegram)."
    )
    name: str = "Authorization"
    prefix: str | None = None
    scope: str = Field(default="", description="OAuth scopes, space-separated (ACI's field).")
    authorize_url: str | None = None
    access_token_url: str | None = None
    fields: list[CredentialFieldDef] | None = Field(
        default=None, description="The credential's fields; the scheme's usual ones when absent."
    )
    query: dict[str, str] = Field(
        default_factory=dict, description="More query parameters from credential fields: {'token': '{token}'}."
    )


class WebhookDef(BaseModel):
    """How the service signs the webhooks it sends."""

    model_config = ConfigDict(extra="forbid")

    scheme: WebhookScheme = WebhookScheme.STANDARD
    events: list[str] = Field(default_factory=list)


class TriggerDefinition(BaseModel):
    """A polling trigger: call a list function, keep what is new since the cursor."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    description: str = ""
    function: str = Field(description="The function (APP__NAME) that lists the items, newest or oldest first.")
    input: dict[str, JsonValue] = Field(default_factory=dict, description="Fixed input for the function.")
    id: str = Field(default="id", description="Dotted path of an item's unique id; deduplicates.")
    cursor: str | None = Field(
        default=None, description="Dotted path of an item's sortable time or sequence (the cursor)."
    )
    cursor_param: str | None = Field(
        default=None, description="Where the cursor goes in the next call, e.g. 'query.since'."
    )


class AppDefinition(BaseModel):
    """The app: who the service is and how to authenticate to it."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(description="UPPER_SNAKE name; every function name starts with it and '__'.")
    display_name: str
    version: str = Field(description="SemVer of the connector (not of the service's API).")
    description: str = ""
    logo: str = ""
    provider: str = ""
    categories: list[str] = Field(default_factory=list)
    server_url: str = Field(description="Base URL; '{field}' takes a non-secret credential field.")
    headers: dict[str, str] = Field(default_factory=dict, description="Sent with every request.")
    security_schemes: dict[SchemeType, SecurityScheme] = Field(default_factory=lambda: {"no_auth": SecurityScheme()})  # type: ignore[arg-type]  # mypy widens the literal key of the lambda's dict
    webhook: WebhookDef | None = None
    triggers: list[TriggerDefinition] = Field(default_factory=list)
    test: str | None = Field(default=None, description="A read-only function that checks the credential.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not APP_NAME.fullmatch(value):
            raise ValueError("use UPPER_SNAKE_CASE letters and digits, e.g. 'GITHUB'")
        return value

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not SEMVER.fullmatch(value):
            raise ValueError(f"{value!r} is not a SemVer version; write MAJOR.MINOR.PATCH, e.g. '0.1.0'")
        return value

    @field_validator("security_schemes")
    @classmethod
    def _schemes(cls, value: dict[str, SecurityScheme]) -> dict[str, SecurityScheme]:
        if not value:
            raise ValueError("declare at least one scheme; use {'no_auth': {}} for a public API")
        return value

    @property
    def slug(self) -> str:
        """The connector's capability name: the app name in lower case."""
        return self.name.lower()


class ProtocolData(BaseModel):
    """Where a REST function goes."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]
    path: str = Field(pattern=r"^/")
    server_url: str | None = None
    content_type: Literal["application/json", "application/x-www-form-urlencoded"] = "application/json"
    graphql: str | None = Field(
        default=None, description="A GraphQL document: the body group becomes its variables (Linear, GitHub v4)."
    )


class ResponseSpec(BaseModel):
    """What of the response body becomes the action's ``data``."""

    model_config = ConfigDict(extra="forbid")

    select: str = Field(default="", description="Dotted path into the JSON body; empty keeps the whole body.")
    schema_: dict[str, JsonValue] = Field(default_factory=dict, alias="schema")
    ok_field: str | None = Field(
        default=None, description="A boolean field that is false on failure though the status is 200 (Slack)."
    )
    error_field: str | None = Field(default=None, description="Where the error's text is when ok_field is false.")


class Pagination(BaseModel):
    """How a list function pages (detected by the OpenAPI importer where the spec allows)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["cursor", "page", "offset", "link", "next_url"]
    items: str = Field(default="", description="Dotted path of the list in each page; empty: the body.")
    param: str | None = Field(default=None, description="'query.NAME' taking the cursor, page or offset.")
    next: str | None = Field(
        default=None, description="Dotted path of the next cursor (cursor) or next page's URL (next_url) in the body."
    )
    has_more: str | None = Field(default=None, description="Dotted path of a boolean that is false on the last page.")
    size_param: str | None = Field(default=None, description="'query.NAME' taking the page size (offset).")


class Example(BaseModel):
    """A sample input, used by the test runner and shown in the docs."""

    model_config = ConfigDict(extra="forbid")

    title: str = ""
    input: dict[str, JsonValue]


class FunctionDefinition(BaseModel):
    """One action (ACI's function), called over REST."""

    model_config = ConfigDict(extra="allow")

    name: str
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    active: bool = True
    protocol: Literal["rest"] = "rest"
    protocol_data: ProtocolData
    parameters: dict[str, JsonValue] = Field(default_factory=lambda: {"type": "object", "properties": {}})  # type: ignore[arg-type]  # mypy infers the nested dict too narrowly
    response: ResponseSpec = Field(default_factory=ResponseSpec)
    pagination: Pagination | None = None
    examples: list[Example] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> FunctionDefinition:
        if self.parameters.get("type") != "object":
            raise ValueError("'parameters' must be a JSON Schema of type 'object'")
        properties = self.parameters.get("properties")
        if not isinstance(properties, dict):
            raise ValueError(  # noqa: TRY004 -- pydantic turns a ValueError into a validation error
                "'parameters.properties' must be an object of the groups path, query, header, body"
            )
        unknown = sorted(set(properties) - set(PARAMETER_GROUPS))
        if unknown:
            raise ValueError(f"'parameters.properties' has {unknown}; the groups are {', '.join(PARAMETER_GROUPS)}")
        path_params = set(re.findall(r"{([^}]+)}", self.protocol_data.path))
        path_group = properties.get("path")
        group_props = path_group.get("properties") if isinstance(path_group, dict) else None
        declared = set(group_props) if isinstance(group_props, dict) else set()
        missing = sorted(path_params - declared)
        if missing:
            raise ValueError(f"the path names {missing} but 'parameters.properties.path' does not declare them")
        return self

    def action_name(self, app: str) -> str:
        """The node name: the function name without ``APP__``, in lower case."""
        return self.name.removeprefix(f"{app}__").lower()


class ConnectorDefinition(BaseModel):
    """An app and its functions, as read from a folder."""

    app: AppDefinition
    functions: list[FunctionDefinition]

    @model_validator(mode="after")
    def _check(self) -> ConnectorDefinition:
        seen: set[str] = set()
        prefix = f"{self.app.name}__"
        for function in self.functions:
            if not function.name.startswith(prefix) or not re.fullmatch(r"[A-Z][A-Z0-9_]*", function.name):
                raise ValueError(
                    f"function {function.name!r} must be named {prefix}ACTION in UPPER_SNAKE_CASE (ACI's convention)"
                )
            if function.name in seen:
                raise ValueError(f"function {function.name!r} is declared twice")
            seen.add(function.name)
        names = {f.name for f in self.functions}
        for trigger in self.app.triggers:
            if trigger.function not in names:
                raise ValueError(f"trigger {trigger.name!r} names function {trigger.function!r}, which is not declared")
        if self.app.test is not None and self.app.test not in names:
            raise ValueError(f"'test' names function {self.app.test!r}, which is not declared")
        return self

    def function(self, name: str) -> FunctionDefinition:
        """The function called ``name`` (``APP__X``)."""
        return next(f for f in self.functions if f.name == name)


def _read_json(path: Path) -> JsonValue:
    try:
        data: JsonValue = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(
            f"{path} is missing; a connector folder holds {APP_FILE} and {FUNCTIONS_FILE} "
            "(synthral connector import-openapi writes both)",
            details={"file": str(path)},
        ) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigurationError(
            f"{path} is not valid JSON: {exc}; fix the file", details={"file": str(path)}
        ) from None
    return data


def _problems(exc: ValidationError) -> str:
    return "; ".join(
        f"'{'.'.join(str(p) for p in item['loc']) or '(root)'}': {item['msg']}"
        for item in exc.errors(include_url=False, include_input=False)
    )


def load_definition(folder: Path) -> ConnectorDefinition:
    """Read and check ``app.json`` and ``functions.json`` in ``folder``.

    Raises:
        ConfigurationError: A file is missing or not JSON, or a field is wrong; the message
            names the file, the field and the fix.
    """
    app_data = _read_json(folder / APP_FILE)
    functions_data = _read_json(folder / FUNCTIONS_FILE)
    try:
        app = AppDefinition.model_validate(app_data)
    except ValidationError as exc:
        raise ConfigurationError(f"{folder / APP_FILE}: {_problems(exc)}", details={"file": APP_FILE}) from None
    if not isinstance(functions_data, list):
        raise ConfigurationError(f"{folder / FUNCTIONS_FILE} must hold a JSON list of function definitions")
    functions = []
    for index, item in enumerate(functions_data):
        try:
            functions.append(FunctionDefinition.model_validate(item))
        except ValidationError as exc:
            name = item.get("name", f"#{index}") if isinstance(item, dict) else f"#{index}"
            raise ConfigurationError(
                f"{folder / FUNCTIONS_FILE}, function {name}: {_problems(exc)}",
                details={"file": FUNCTIONS_FILE, "function": str(name)},
            ) from None
    try:
        return ConnectorDefinition(app=app, functions=[f for f in functions if f.active])
    except ValidationError as exc:
        raise ConfigurationError(f"{folder}: {_problems(exc)}", details={"folder": str(folder)}) from None
