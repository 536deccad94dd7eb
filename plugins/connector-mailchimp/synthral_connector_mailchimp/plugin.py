"""The connector's hooks: Mailchimp declared as data, run by the SDK's REST runtime."""

from synthral_sdk.rest import DeclaredPlugin

__all__ = ["plugin", "synthral_connectors", "synthral_nodes", "synthral_triggers"]

plugin = DeclaredPlugin.from_module(__name__)
synthral_connectors, synthral_nodes, synthral_triggers = plugin.hooks()
