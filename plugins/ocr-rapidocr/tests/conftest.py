"""A blob store and a context for calling the engine in this process."""

from __future__ import annotations

import pytest

from synthral_sdk import BlobStore, Context


@pytest.fixture
def blobs(tmp_path_factory: pytest.TempPathFactory) -> BlobStore:
    return BlobStore(tmp_path_factory.mktemp("blobs"))


@pytest.fixture
def context(blobs: BlobStore) -> Context:
    return Context(blobs=blobs)
