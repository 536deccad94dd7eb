"""Collections kept in folders: where they live, opened once, their vectors' size remembered, one loop thread."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from synthral_sdk import Context
from synthral_sdk.blobs import BlobStore
from synthral_sdk.errors import ConfigInvalid
from synthral_sdk.stores import Collections


class _Opened:
    def __init__(self, folder: Path, dims: int) -> None:
        self.folder = folder
        self.dims = dims


def _context(tmp_path: Path, data_dir: Path | None) -> Context:
    return Context(blobs=BlobStore(tmp_path / "blobs"), data_dir=data_dir)


def test_the_root_is_the_configured_path_else_the_data_folder_else_an_error_naming_the_field(tmp_path: Path) -> None:
    collections: Collections[_Opened] = Collections("graphs", "the store keeps its graphs")
    with_data = _context(tmp_path, tmp_path / "data")
    assert collections.root(str(tmp_path / "mine"), with_data) == (tmp_path / "mine").resolve()
    assert collections.root(None, with_data) == tmp_path / "data" / "graphs"
    with pytest.raises(ConfigInvalid, match="config field 'path': set the folder the store keeps its graphs in") as e:
        collections.root(None, _context(tmp_path, None))
    assert e.value.details == {"field": "path"}


def test_a_collection_is_made_only_with_a_size_opened_once_and_reopened_with_its_size(tmp_path: Path) -> None:
    context = _context(tmp_path, tmp_path / "data")
    opened: list[tuple[Path, int]] = []

    def opener(folder: Path, dims: int) -> _Opened:
        opened.append((folder, dims))
        return _Opened(folder, dims)

    first: Collections[_Opened] = Collections("graphs", "x")
    assert first.get(None, context, "docs", None, opener) is None  # never written: not there
    assert not (tmp_path / "data" / "graphs" / "docs").exists()
    made = first.get(None, context, "docs", 8, opener)
    assert made is not None and made.dims == 8
    assert first.get(None, context, "docs", 32, opener) is made  # open: the same object, its size kept
    assert len(opened) == 1

    later: Collections[_Opened] = Collections("graphs", "x")  # another process's registry
    reopened = later.get(None, context, "docs", None, opener)
    assert reopened is not None and reopened.dims == 8  # the size came from the folder's marker


def test_coroutines_run_on_one_loop_thread_and_raise_where_they_are_awaited(tmp_path: Path) -> None:
    collections: Collections[_Opened] = Collections("graphs", "x")

    async def where() -> tuple[int, int]:
        return threading.get_ident(), id(asyncio.get_running_loop())

    async def fails() -> None:
        raise ValueError("broken")

    one, two = collections.run(where()), collections.run(where())
    assert one == two and one[0] != threading.get_ident()
    with pytest.raises(ValueError, match="broken"):
        collections.run(fails())
