"""``synthral blob ...``: files in and out of the content-addressed blob store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from synthral.cli.common import fail, print_json
from synthral.config import Settings
from synthral.errors import SynthralError
from synthral.services.blobs import get_blob, put_blob
from synthral_sdk import BlobStore

app = typer.Typer(help="Put files into the blob store (capabilities take them as references) and get them out.")


@app.command()
def put(
    file: Annotated[Path, typer.Argument(help="The file to store.")],
    media_type: Annotated[str | None, typer.Option(help="IANA media type; guessed from the name.")] = None,
) -> None:
    """Store a file and print its reference, ready to paste into --input."""
    try:
        ref = put_blob(BlobStore(Settings.load().blobs_dir), file, media_type)
    except SynthralError as exc:
        fail(exc, as_json=True)
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
