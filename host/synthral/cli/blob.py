"""``synthral blob ...``: files in and out of the content-addressed blob store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from synthral.cli.common import err_console, fail, print_json, run
from synthral.config import Settings
from synthral.errors import SynthralError
from synthral.services.blobs import get_blob
from synthral_sdk import BlobRef, BlobStore

app = typer.Typer(help="Put files into the blob store (capabilities take them as references) and get them out.")


@app.command()
def put(
    file: Annotated[Path, typer.Argument(help="The file to store.")],
    media_type: Annotated[str | None, typer.Option(help="IANA media type; guessed from the name.")] = None,
    workspace: Annotated[
        str | None,
        typer.Option(
            help="The workspace (slug or id) whose runs may be handed the file; by default the desktop's "
            "workspace 'local', when there is one."
        ),
    ] = None,
) -> None:
    """Store a file, let a workspace use it, and print its reference, ready to paste into --input."""
    from synthral.services.blob_grants import BlobGrants
    from synthral.store.db import Database

    async def go() -> tuple[BlobRef, str | None]:
        settings = Settings.load()
        database = Database.from_settings(settings)
        try:
            await database.migrate()
            grants = BlobGrants(database)
            workspace_id = await grants.workspace(workspace)
            ref = await grants.store(BlobStore(settings.blobs_dir), workspace_id, file, media_type=media_type)
            return ref, workspace_id
        finally:
            await database.close()

    ref, workspace_id = run(go(), as_json=True)
    if workspace_id is None:
        err_console.print(
            "no workspace may use it yet, only the command line's own runs; name one with --workspace SLUG"
        )
    print_json(ref.to_json())


@app.command()
def get(
    digest: Annotated[str, typer.Argument(help="The blob's digest, 'sha256:<hex>'.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write it.")],
) -> None:
    """Copy a stored blob to a file."""
    try:
        get_blob(BlobStore(Settings.load().blobs_dir), digest, output)
    except SynthralError as exc:
        fail(exc, as_json=False)
