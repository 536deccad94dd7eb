"""An Infisical secret store for SynthralOS: the ``infisical`` capability.

It reads, writes and deletes the secrets of one folder of an Infisical project
environment through the official SDK, logged in with Universal Auth as the machine
identity whose client id and client secret the call is granted.
"""

from synthral_secrets_infisical._infisical import CLIENT_ID, CLIENT_SECRET
from synthral_secrets_infisical.models import InfisicalConfig
from synthral_secrets_infisical.store import InfisicalStore

__all__ = ["CLIENT_ID", "CLIENT_SECRET", "InfisicalConfig", "InfisicalStore"]
