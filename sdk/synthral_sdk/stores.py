"""For stores that keep each collection in a folder of its own (embedded graph and memory stores).

Such a store resolves its root folder from its config's ``path`` or the plugin's data folder,
opens a collection once per process, and remembers the size of the collection's vectors in
a ``dims`` file beside its data, so that a collection written once is reopened with the same
size and a collection never written is "not there" (a query or count answers empty).
Libraries whose objects must stay on one asyncio loop (LightRAG, Graphiti) run their
coroutines on the registry's loop thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Generic, TypeVar

from synthral_sdk.context import Context
from synthral_sdk.errors import ConfigInvalid

__all__ = ["Collections", "LoopThread"]

T = TypeVar("T")
R = TypeVar("R")


class LoopThread:
    """An asyncio event loop running on a daemon thread; :meth:`run` waits for a coroutine on it."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, R]) -> R:
        """Run ``coro`` on the loop thread and return its result (its exception is raised here)."""
        future: Future[R] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result()


class Collections(Generic[T]):
    """The collections of one store, each in ``ROOT/COLLECTION``, opened once per process.

    Args:
        subfolder: The root's name in the plugin's data folder when the config gives no path.
        what: What the store keeps, for the error that asks for a path ("LightRAG keeps its graphs").

    Attributes:
        lock: Held while a collection is opened; stores may hold it around calls that must not
            interleave (it is re-entrant).
    """

    def __init__(self, subfolder: str, what: str) -> None:
        self.lock = threading.RLock()
        self._subfolder = subfolder
        self._what = what
        self._open: dict[str, T] = {}
        self._loop: LoopThread | None = None

    def root(self, path: str | None, context: Context) -> Path:
        """The folder the collections live in: ``path`` when given, else the subfolder of the data folder.

        Raises:
            ConfigInvalid: Neither is there (naming the config field ``path``).
        """
        if path:
            return Path(path).expanduser().resolve()
        if context.data_dir is not None:
            return Path(context.data_dir) / self._subfolder
        raise ConfigInvalid(f"config field 'path': set the folder {self._what} in", details={"field": "path"})

    def get(
        self,
        path: str | None,
        context: Context,
        collection: str,
        dims: int | None,
        opener: Callable[[Path, int], T],
    ) -> T | None:
        """The open collection; else open it with ``opener(folder, dims)`` when it exists or ``dims`` is given.

        A collection that exists keeps the size it was made with (``dims`` is then ignored);
        one that does not exist is made only when ``dims`` is given, else None is returned.
        """
        folder = self.root(path, context) / collection
        with self.lock:
            found = self._open.get(str(folder))
            if found is not None:
                return found
            marker = folder / "dims"
            if marker.is_file():
                dims = int(marker.read_text())
            elif dims is None:
                return None
            folder.mkdir(parents=True, exist_ok=True)
            made = opener(folder, dims)
            marker.write_text(str(dims))
            self._open[str(folder)] = made
            return made

    def run(self, coro: Coroutine[Any, Any, R]) -> R:
        """Run ``coro`` on the store's loop thread (started on first use) and return its result."""
        with self.lock:
            if self._loop is None:
                self._loop = LoopThread(f"{self._subfolder}-loop")
            loop = self._loop
        return loop.run(coro)
