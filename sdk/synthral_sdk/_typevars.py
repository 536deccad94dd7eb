"""Type variables shared by the capability kinds."""

from __future__ import annotations

from pydantic import BaseModel
from typing_extensions import TypeVar

from synthral_sdk._capability import NoConfig

InputT = TypeVar("InputT", bound=BaseModel)
OutputT = TypeVar("OutputT", bound=BaseModel)
ConfigT = TypeVar("ConfigT", bound=BaseModel, default=NoConfig)
