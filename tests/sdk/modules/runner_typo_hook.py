"""A plugin module with a misspelt hook."""

from synthral_sdk import hookimpl


@hookimpl
def synthral_node() -> list[object]:
    return []
