"""The desktop's watched folders and the files they have started runs for.

A watched folder is a trigger only the desktop app's host runs: a new file in the folder
starts a run of the workflow with the file as a blob. Every file that fired is recorded
before its run is queued, under a unique (folder, name, content) key, so a file fires once
however often it is seen, across restarts too.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, ForeignKey, Integer, String, Table, Text, UniqueConstraint

from synthral.store.tables import UTCDateTime, metadata

__all__ = ["WATCHED_FILE", "WATCHED_FOLDER"]

WATCHED_FOLDER = Table(
    "desktop_watched_folder",
    metadata,
    Column("id", String, primary_key=True),
    Column(
        "workspace_id",
        String,
        ForeignKey("workspace.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
        comment="The workspace of the workflow it starts.",
    ),
    Column(
        "workflow_id",
        String,
        ForeignKey("workflow.id", ondelete="CASCADE"),
        nullable=False,
        comment="The workflow a new file starts (its latest version).",
    ),
    Column("path", Text, nullable=False, comment="The folder's absolute path on this machine."),
    Column("pattern", String, nullable=False, comment="A glob on file names, e.g. '*.pdf'; '*' for every file."),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("workflow_id", "path", name="uq_desktop_watched_folder_workflow_path"),
    comment="Folders whose new files start a workflow (desktop app only).",
)

WATCHED_FILE = Table(
    "desktop_watched_file",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("folder_id", String, ForeignKey("desktop_watched_folder.id", ondelete="CASCADE"), nullable=False),
    Column("name", Text, nullable=False, comment="The file's name inside the folder."),
    Column(
        "sha256", String, nullable=False, comment="The content's digest: new content under an old name fires again."
    ),
    Column("size", Integer, nullable=False),
    Column("execution_id", String, nullable=False, comment="The run this file started (chosen before it is queued)."),
    Column(
        "started",
        Boolean,
        nullable=False,
        comment="False between recording the file and queuing its run; such rows are queued again at start.",
    ),
    Column("seen_at", UTCDateTime(), nullable=False),
    UniqueConstraint("folder_id", "name", "sha256", name="uq_desktop_watched_file_once"),
    comment="Files a watched folder fired for: one row, one run, whatever restarts happen.",
)
