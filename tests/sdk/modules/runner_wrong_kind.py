"""A plugin module returning a non-capability from a hook."""

from synthral_sdk import hookimpl


@hookimpl
def synthral_nodes() -> list[object]:
    return ["not a node"]
