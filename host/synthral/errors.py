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
    EgressDenied,
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
    "ApprovalRequired",
    "AuthenticationFailed",
    "BlobNotFound",
    "Cancelled",
    "CodeFailed",
    "ConfigInvalid",
    "ConfigurationError",
    "Conflict",
    "DatabaseUnavailable",
    "DeadlineExceeded",
    "DecryptionFailed",
    "EgressDenied",
    "EmbedderMismatch",
    "FatalError",
    "Forbidden",
    "FrameTooLarge",
    "IncompatiblePlugin",
    "InputInvalid",
    "InstallError",
    "InvocationTimeout",
    "MfaRequired",
    "NoEntryPoint",
    "NoVectorStore",
    "NonRetryableError",
    "NotFound",
    "NothingToRollBack",
    "OutputInvalid",
    "PermissionDenied",
    "PluginAlreadyInstalled",
    "PluginCrashed",
    "PluginDisabled",
    "PluginError",
    "PluginLoadError",
    "PluginNotFound",
    "PluginPinned",
    "PluginProtocolError",
    "PluginStartError",
    "PluginUnavailable",
    "ProtocolError",
    "QuotaExceeded",
    "RateLimited",
    "RetryableError",
    "SecretKeyMissing",
    "SignatureInvalid",
    "SynthralError",
    "TemplateError",
    "UnknownCapability",
    "UnknownOperation",
    "UpgradeNotClean",
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
class ApprovalRequired(InstallError):
    """A plugin asks for permissions nobody granted; ``details['missing']`` lists them as grant items.

    ``details['permissions']`` describes everything it declares, one sentence each, for the
    person who decides. Nothing was installed.
    """

    code = "approval_required"


@register_error_type
class SignatureInvalid(InstallError):
    """A wheel's hash or signature does not verify, or a signature is required and missing."""

    code = "signature_invalid"


@register_error_type
class PermissionDenied(NonRetryableError):
    """A plugin was asked to do something its grant does not allow (a credential kind, a sandbox it lacks)."""

    code = "permission_denied"


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


# -- server mode: access, secrets -----------------------------------------------------------


@register_error_type
class AuthenticationFailed(ConfigurationError):
    """No valid credentials came with the request (HTTP 401)."""

    code = "authentication_failed"


@register_error_type
class MfaRequired(AuthenticationFailed):
    """The password was right; the account also needs its TOTP code."""

    code = "mfa_required"


@register_error_type
class Forbidden(ConfigurationError):
    """Authenticated, but the role does not allow this (HTTP 403)."""

    code = "forbidden"


@register_error_type
class NotFound(ConfigurationError):
    """No such object, or not one the caller may see (HTTP 404: the two are not told apart)."""

    code = "not_found"


@register_error_type
class BlobNotFound(NotFound):
    """A reference names a blob the workspace was never given (HTTP 404).

    A blob stored by another workspace and one never stored get this same answer: a digest
    is no secret, and the answer must not tell whether its content exists on the server.
    ``details['digests']`` lists the references refused.
    """

    code = "blob_not_found"


@register_error_type
class Conflict(ConfigurationError):
    """The object exists already, or changed meanwhile (HTTP 409)."""

    code = "conflict"


@register_error_type
class UpgradeNotClean(Conflict):
    """An upgrade's replay check found differences the caller did not accept (HTTP 409)."""

    code = "upgrade_not_clean"


@register_error_type
class NothingToRollBack(Conflict):
    """No applied plugin upgrade is in force to roll back (HTTP 409)."""

    code = "nothing_to_roll_back"


@register_error_type
class DatabaseUnavailable(RetryableError):
    """The database cannot be reached or written (down, restarting, disk full, read-only): try again later.

    ``details['reason']`` is ``unreachable``, ``unopenable``, ``full``, ``read_only``, ``busy`` or ``io``.
    Nothing was written by the operation that met it.
    """

    code = "database_unavailable"


@register_error_type
class PluginPinned(Conflict):
    """Saved workflows pin the plugin version to be removed; ``details['workflows']`` names them."""

    code = "plugin_pinned"


@register_error_type
class RateLimited(RetryableError):
    """Too many requests (or failed logins); ``details['retry_after']`` says when to try again (HTTP 429)."""

    code = "rate_limited"


@register_error_type
class SecretKeyMissing(ConfigurationError):
    """No encryption key is configured, or a credential was sealed with a key that is gone."""

    code = "secret_key_missing"


@register_error_type
class DecryptionFailed(FatalError):
    """A sealed value failed authentication: it was altered, or belongs elsewhere."""

    code = "decryption_failed"


@register_error_type
class QuotaExceeded(RateLimited):
    """A workspace has used its daily budget (CPU seconds of code); ``retry_after`` says when it resets."""

    code = "quota_exceeded"
    default_retryable = False


@register_error_type
class CodeFailed(NonRetryableError):
    """User code raised an exception or hit a limit; ``details`` hold the error, its traceback and the output."""

    code = "code_failed"


@register_error_type
class EmbedderMismatch(Conflict):
    """A RAG index was asked to take or answer vectors of another embedder than its own."""

    code = "embedder_mismatch"


@register_error_type
class NoVectorStore(ConfigurationError):
    """No installed (and configured) vector store can hold a RAG index."""

    code = "no_vector_store"
