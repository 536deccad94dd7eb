"""A plugin module offering two capabilities with one name."""

from pydantic import BaseModel

from synthral_sdk import Context, NoConfig, Node, hookimpl


class Empty(BaseModel):
    pass


class A(Node[Empty, Empty]):
    name = "same"

    def run(self, inputs: Empty, config: NoConfig, context: Context) -> Empty:
        return inputs


class B(A):
    pass


@hookimpl
def synthral_nodes() -> list[Node]:  # type: ignore[type-arg]
    return [A(), B()]
