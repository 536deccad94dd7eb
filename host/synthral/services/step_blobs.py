"""Blobs a run's steps read or wrote, for previews: found only through a run the caller may see."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from synthral.errors import BlobNotFound, NotFound
from synthral.services.workflows import WorkflowService
from synthral_sdk import BlobStore
from synthral_sdk.types import BlobRef

__all__ = ["StepBlob", "find_step_blob"]


@dataclass(frozen=True)
class StepBlob:
    """A stored blob and what its reference says of it."""

    path: Path
    media_type: str
    size: int
    name: str | None


def _refs(value: Any) -> Iterator[dict[str, Any]]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("$blob"), str):
                yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


async def find_step_blob(
    workflows: WorkflowService, store: BlobStore, execution_id: str, digest: str, *, workspace_id: str
) -> StepBlob:
    """The blob ``digest`` if the workspace was granted it and the execution (in the workspace) refers to it.

    Raises:
        ExecutionNotFound: No such execution in the workspace.
        NotFound: The run refers to no such blob, or it is no longer stored.
    """
    view = await workflows.execution(execution_id, workspace_id=workspace_id)
    documents = [view.execution.get("input"), view.execution.get("output")]
    for step in view.steps:
        documents += [step.get("input"), step.get("output")]
    for ref in _refs(documents):
        if ref["$blob"] != digest:
            continue
        try:
            blob = BlobRef.model_validate({"$blob": digest, "size": 0})
            # A step's output may name a blob it copied from outside data: only a granted one is shown.
            await workflows.grants.check(workspace_id, {"$blob": digest})
        except (ValidationError, BlobNotFound):
            break
        if not store.exists(blob):
            break
        path = store.path(blob)
        media = ref.get("media_type") or ref.get("mediaType")
        name = ref.get("name")
        return StepBlob(
            path,
            media if isinstance(media, str) else "application/octet-stream",
            path.stat().st_size,
            name if isinstance(name, str) else None,
        )
    raise NotFound(
        f"execution {execution_id} refers to no stored blob {digest[:80]!r}",
        details={"execution_id": execution_id, "digest": digest[:80]},
    )
