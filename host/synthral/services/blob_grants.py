"""Which workspace may name which blob: grants recorded where blobs enter, checked where callers name them.

The blob store is shared by every workspace of a server and addressed by content, and a
plugin reads whatever blob its call refers to. So every place a caller's JSON reaches a run
or a plugin (a run's input, a signal, a saved workflow, a webhook's body, OCR documents,
code files, browser actions, connector actions) checks its references against the caller's
workspace first, here; and every place a blob enters through a workspace (an upload, a step's
output, a file the host made for it) grants it. See docs/decisions/0042-per-workspace-blob-grants.md.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Final

from sqlalchemy import or_, select

from synthral.errors import BlobNotFound, NotFound
from synthral.plugins.sandbox import blob_digests
from synthral.services.blobs import put_blob
from synthral.store.blob_tables import grant_blobs, granted_blobs
from synthral.store.db import Database
from synthral.store.tables import WORKSPACE
from synthral_sdk import BlobRef, BlobStore

__all__ = ["UPLOAD_ROUTE", "BlobGrants", "blob_refs", "short_digest"]

UPLOAD_ROUTE: Final = "POST /api/v1/blobs"
"""Where a file enters a workspace, named by every refusal as the fix."""
_LISTED: Final = 20
"""Refused digests named in an error's details at most."""


def blob_refs(value: object) -> set[str]:
    """The digests (``sha256:<hex>``) of every blob reference (``{"$blob": …}``) anywhere in a JSON value."""
    return {f"sha256:{digest}" for digest in blob_digests(value)}


def short_digest(digest: str) -> str:
    """``sha256:`` and the first 12 hex digits, for messages."""
    return f"{digest[:19]}…"


class BlobGrants:
    """Grants over one database.

    Args:
        database: Where the grants are kept (``blob_grant``).
    """

    def __init__(self, database: Database) -> None:
        self.database = database

    async def grant(self, workspace_id: str | None, value: object) -> None:
        """Let ``workspace_id`` name every blob ``value`` refers to (any JSON; nothing without a workspace)."""
        digests = blob_refs(value)
        if workspace_id is None or not digests:
            return
        await self.database.write(lambda connection: grant_blobs(connection, workspace_id, digests))

    async def check(self, workspace_id: str | None, value: object) -> None:
        """Refuse ``value`` when it refers to a blob ``workspace_id`` was not given.

        Only grants are read, never the store: a blob of another workspace and one that was
        never stored are refused alike. Without a workspace (a workflow of the command line,
        which owns the whole machine) nothing is checked.

        Raises:
            BlobNotFound: Some reference names a blob the workspace may not name.
        """
        wanted = blob_refs(value)
        if workspace_id is None or not wanted:
            return
        async with self.database.engine.connect() as connection:
            have = await connection.run_sync(lambda sync: granted_blobs(sync, workspace_id, wanted))
        missing = sorted(wanted - have)
        if not missing:
            return
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise BlobNotFound(
            f"no blob {short_digest(missing[0])}{more} in this workspace; upload the file in this workspace first "
            f"({UPLOAD_ROUTE}, multipart field 'file') and send the reference it answers",
            details={"digests": list(missing[:_LISTED])},
        )

    async def store(
        self,
        blobs: BlobStore,
        workspace_id: str | None,
        path: Path,
        *,
        media_type: str | None = None,
        name: str | None = None,
    ) -> BlobRef:
        """Store a file (in a thread: it may be large) and grant it to ``workspace_id``.

        Raises:
            InputInvalid: ``path`` is not a file.
        """
        ref = await asyncio.to_thread(put_blob, blobs, path, media_type, name)
        await self.grant(workspace_id, ref.to_json())
        return ref

    async def workspace(self, name: str | None) -> str | None:
        """The id of the workspace ``name`` (slug or id); unnamed, the desktop's workspace ``local`` if it exists.

        Raises:
            NotFound: No workspace has that slug or id.
        """
        from synthral.services.identity import LOCAL_SLUG  # noqa: PLC0415 -- accounts load only for the command line

        wanted = name if name is not None else LOCAL_SLUG
        async with self.database.engine.connect() as connection:
            found = (
                await connection.execute(
                    select(WORKSPACE.c.id).where(or_(WORKSPACE.c.slug == wanted, WORKSPACE.c.id == wanted))
                )
            ).scalar()
        if found is None and name is not None:
            raise NotFound(f"no workspace {name!r}; name one by its slug or id", details={"workspace": name})
        return None if found is None else str(found)
