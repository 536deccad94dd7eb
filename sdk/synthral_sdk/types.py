"""Types shared by every capability kind: JSON values and blob references."""

from __future__ import annotations

import re
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, field_validator

from synthral_sdk._json import JSONObject, JSONValue

__all__ = ["BLOB_KEY", "BlobRef", "JSONObject", "JSONValue"]


BLOB_KEY: Final = "$blob"
"""The key that marks a JSON object as a blob reference."""

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


class BlobRef(BaseModel):
    """A reference to immutable bytes in the content-addressed blob store.

    Binary data never travels inline; a capability takes and returns ``BlobRef`` fields and
    reads or writes the bytes through ``context.blobs``.
    """

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")

    digest: str = Field(
        alias=BLOB_KEY,
        description="'sha256:' followed by the 64 lowercase hex digits of the content's hash.",
    )
    size: int = Field(ge=0, description="Length of the content in bytes.")
    media_type: str = Field(
        default="application/octet-stream",
        alias="mediaType",
        description="IANA media type of the content, e.g. 'image/png'.",
    )
    name: str | None = Field(default=None, description="Original file name, if any.")

    @field_validator("digest")
    @classmethod
    def _check_digest(cls, value: str) -> str:
        if not _DIGEST.fullmatch(value):
            raise ValueError(
                "a blob digest must be 'sha256:' followed by 64 lowercase hex digits; get one from context.blobs.put()"
            )
        return value

    @property
    def hexdigest(self) -> str:
        """The 64 hex digits of the digest."""
        return self.digest.removeprefix("sha256:")

    def to_json(self) -> JSONObject:
        """Return the wire form, ``{"$blob": ..., "size": ..., "mediaType": ...}``."""
        data: JSONObject = {BLOB_KEY: self.digest, "size": self.size, "mediaType": self.media_type}
        if self.name is not None:
            data["name"] = self.name
        return data
