"""The host's errors: the SDK's tree (shared with plugins) plus the host's own.

Grouped by what a caller does about them (see :mod:`synthral_sdk.errors`). The CLI and,
later, the API map ``code`` to exit statuses and HTTP answers in one place each.
"""

from __future__ import annotations

from synthral_sdk.errors import (
    Cancelled,
    ConfigInvalid,
    ConfigurationError,
    DeadlineExceeded,
    FatalError,
    FrameTooLarge,
    IncompatiblePlugin,
    InputInvalid,
    InvocationTimeout,
    NonRetryableError,
    OutputInvalid,
    PluginCrashed,
    PluginError,
    PluginLoadError,
    PluginProtocolError,
    PluginStartError,
    PluginUnavailable,
    ProtocolError,
    RetryableError,
    SynthralError,
    UnknownCapability,
    UnknownOperation,
    register_error_type,
)

__all__ = [
    "Cancelled",
    "ConfigInvalid",
    "ConfigurationError",
    "DeadlineExceeded",
    "FatalError",
    "FrameTooLarge",
    "IncompatiblePlugin",
    "InputInvalid",
    "InstallError",
    "InvocationTimeout",
    "NoEntryPoint",
    "NonRetryableError",
    "OutputInvalid",
    "PluginAlreadyInstalled",
    "PluginCrashed",
    "PluginDisabled",
    "PluginError",
    "PluginLoadError",
    "PluginNotFound",
    "PluginProtocolError",
    "PluginStartError",
    "PluginUnavailable",
    "ProtocolError",
    "RetryableError",
    "SynthralError",
    "TemplateError",
    "UnknownCapability",
    "UnknownOperation",
    "WorkflowInvalid",
]


@register_error_type
class InstallError(ConfigurationError):
    """A plugin could not be installed; nothing was left behind."""

    code = "install_error"


@register_error_type
class NoEntryPoint(InstallError):
    """The wheel declares no entry point in the group ``synthral.plugins``."""

    code = "no_entry_point"


@register_error_type
class PluginAlreadyInstalled(InstallError):
    """That name and version is installed already."""

    code = "plugin_already_installed"


@register_error_type
class PluginNotFound(ConfigurationError):
    """No installed plugin (or version) of that name."""

    code = "plugin_not_found"


@register_error_type
class WorkflowInvalid(ConfigurationError):
    """A workflow definition is wrong; ``details['issues']`` lists every problem found."""

    code = "workflow_invalid"


@register_error_type
class TemplateError(ConfigurationError):
    """A template in a node's input failed to compile or to render."""

    code = "template_error"


@register_error_type
class PluginDisabled(ConfigurationError):
    """The plugin is installed but disabled."""

    code = "plugin_disabled"
