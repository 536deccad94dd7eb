"""The S3 connector: objects in any S3-compatible store, bytes moving as blob references.

The credential: ``access_key_id``, ``secret_access_key``, optional ``region`` and
``endpoint_url`` (MinIO, Cloudflare R2, Wasabi, Backblaze B2; empty for AWS). Object bodies
never travel inline: ``put_object`` reads a blob (or takes short text), ``get_object`` writes
one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from synthral_sdk import (
    AuthSpec,
    BlobRef,
    ConnectionCheck,
    ConnectionStatus,
    Connector,
    Context,
    CredentialField,
    NoConfig,
    Node,
    PollRequest,
    PollResult,
    Trigger,
    hookimpl,
)
from synthral_sdk.errors import ConfigurationError, NonRetryableError, RetryableError

__all__ = [
    "S3",
    "DeleteObject",
    "GetObject",
    "ListObjects",
    "NewObject",
    "PresignUrl",
    "PutObject",
    "synthral_connectors",
]

SECRETS = ("access_key_id", "secret_access_key", "region", "endpoint_url")
BUCKET = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
MAX_GET = 512 * 1024 * 1024


def _client(context: Context) -> Any:
    s = context.secrets
    if not s.get("access_key_id") or not s.get("secret_access_key"):
        raise ConfigurationError("connector 's3' was granted no access_key_id and secret_access_key; connect it first")
    timeout = min(60.0, context.time_remaining() or 30.0)
    return boto3.session.Session().client(
        "s3",
        aws_access_key_id=s["access_key_id"],
        aws_secret_access_key=s["secret_access_key"],
        region_name=s.get("region") or "us-east-1",
        endpoint_url=s.get("endpoint_url") or None,
        config=botocore.config.Config(
            connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 1}, signature_version="s3v4"
        ),
    )


def _call(context: Context, work: Any) -> Any:
    try:
        return work(_client(context))
    except botocore.exceptions.ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = str(error.get("Code", "")), str(error.get("Message", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        if status in (429, 503) or status >= 500 or code == "SlowDown":
            raise RetryableError(f"S3 answered {code}: {message}; it may work later") from None
        hint = {
            "NoSuchBucket": "check the bucket's name and region",
            "NoSuchKey": "no object has that key",
            "AccessDenied": "the credential's policy does not allow this",
            "InvalidAccessKeyId": "the access key is wrong; rotate the credential",
            "SignatureDoesNotMatch": "the secret key is wrong; rotate the credential",
        }.get(code, "see the store's documentation")
        raise NonRetryableError(
            f"S3 answered {code}: {message} ({hint})", details={"code": code, "status": status}
        ) from None
    except (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectTimeoutError) as exc:
        raise RetryableError(f"could not reach the S3 endpoint: {exc}") from None


class PutInput(BaseModel):
    """An object to store."""

    model_config = ConfigDict(extra="forbid")

    bucket: str = Field(pattern=BUCKET)
    key: str = Field(min_length=1, max_length=1024)
    blob: BlobRef | None = Field(default=None, description="The bytes, from the blob store.")
    text: str | None = Field(default=None, max_length=1_000_000, description="Or short text, stored as UTF-8.")
    content_type: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)


class PutOutput(BaseModel):
    """The stored object."""

    etag: str
    size: int


class PutObject(Node[PutInput, PutOutput, NoConfig]):
    """Store an object."""

    name = "put_object"
    secrets = SECRETS

    def run(self, inputs: PutInput, config: NoConfig, context: Context) -> PutOutput:
        """Upload the blob's or the text's bytes."""
        if (inputs.blob is None) == (inputs.text is None):
            raise ConfigurationError("give exactly one of 'blob' and 'text'")
        body = context.blobs.get(inputs.blob) if inputs.blob is not None else (inputs.text or "").encode()
        content_type = inputs.content_type or (inputs.blob.media_type if inputs.blob else "text/plain; charset=utf-8")
        answer = _call(
            context,
            lambda c: c.put_object(
                Bucket=inputs.bucket, Key=inputs.key, Body=body, ContentType=content_type, Metadata=inputs.metadata
            ),
        )
        return PutOutput(etag=str(answer["ETag"]).strip('"'), size=len(body))


class ObjectInput(BaseModel):
    """An object's address."""

    model_config = ConfigDict(extra="forbid")

    bucket: str = Field(pattern=BUCKET)
    key: str = Field(min_length=1, max_length=1024)


class GetOutput(BaseModel):
    """The object, in the blob store."""

    blob: BlobRef
    etag: str
    metadata: dict[str, str]


class GetObject(Node[ObjectInput, GetOutput, NoConfig]):
    """Fetch an object into the blob store."""

    name = "get_object"
    secrets = SECRETS

    def run(self, inputs: ObjectInput, config: NoConfig, context: Context) -> GetOutput:
        """Download the object (up to 512 MiB)."""
        answer = _call(context, lambda c: c.get_object(Bucket=inputs.bucket, Key=inputs.key))
        if int(answer.get("ContentLength") or 0) > MAX_GET:
            answer["Body"].close()
            raise NonRetryableError(
                f"the object is larger than {MAX_GET // 1024 // 1024} MiB; use a presigned URL instead"
            )
        data = answer["Body"].read()
        ref = context.blobs.put(
            data, media_type=answer.get("ContentType") or "application/octet-stream", name=inputs.key.rsplit("/", 1)[-1]
        )
        return GetOutput(blob=ref, etag=str(answer["ETag"]).strip('"'), metadata=dict(answer.get("Metadata") or {}))


class DeleteOutput(BaseModel):
    """Done."""

    deleted: bool


class DeleteObject(Node[ObjectInput, DeleteOutput, NoConfig]):
    """Delete an object (deleting a missing key succeeds, as S3 does)."""

    name = "delete_object"
    secrets = SECRETS

    def run(self, inputs: ObjectInput, config: NoConfig, context: Context) -> DeleteOutput:
        """Delete the key."""
        _call(context, lambda c: c.delete_object(Bucket=inputs.bucket, Key=inputs.key))
        return DeleteOutput(deleted=True)


class ListInput(BaseModel):
    """Which objects."""

    model_config = ConfigDict(extra="forbid")

    bucket: str = Field(pattern=BUCKET)
    prefix: str = ""
    limit: int = Field(default=1000, ge=1, le=100_000)


class ListOutput(BaseModel):
    """Objects by key order."""

    objects: list[dict[str, JsonValue]]
    truncated: bool


def _list(
    context: Context, bucket: str, prefix: str, limit: int, start_after: str | None = None
) -> tuple[list[dict[str, JsonValue]], bool]:
    def work(c: Any) -> tuple[list[dict[str, JsonValue]], bool]:
        found: list[dict[str, JsonValue]] = []
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        if start_after:
            kwargs["StartAfter"] = start_after
        for page in c.get_paginator("list_objects_v2").paginate(**kwargs):
            for item in page.get("Contents", []):
                found.append(
                    {
                        "key": item["Key"],
                        "size": item["Size"],
                        "etag": str(item["ETag"]).strip('"'),
                        "last_modified": item["LastModified"].isoformat(),
                    }
                )
                if len(found) >= limit:
                    return found, True
        return found, False

    result: tuple[list[dict[str, JsonValue]], bool] = _call(context, work)
    return result


class ListObjects(Node[ListInput, ListOutput, NoConfig]):
    """List objects under a prefix."""

    name = "list_objects"
    secrets = SECRETS

    def run(self, inputs: ListInput, config: NoConfig, context: Context) -> ListOutput:
        """Page through ListObjectsV2."""
        objects, truncated = _list(context, inputs.bucket, inputs.prefix, inputs.limit)
        return ListOutput(objects=objects, truncated=truncated)


class PresignInput(ObjectInput):
    """A link to share."""

    method: str = Field(default="get_object", pattern="^(get_object|put_object)$")
    expires_seconds: int = Field(default=3600, ge=1, le=604_800)


class PresignOutput(BaseModel):
    """The link."""

    url: str


class PresignUrl(Node[PresignInput, PresignOutput, NoConfig]):
    """A time-limited URL to download or upload one object without credentials."""

    name = "presign_url"
    secrets = SECRETS

    def run(self, inputs: PresignInput, config: NoConfig, context: Context) -> PresignOutput:
        """Sign the URL locally (no request is made)."""
        params = {"Bucket": inputs.bucket, "Key": inputs.key}
        url = _call(
            context, lambda c: c.generate_presigned_url(inputs.method, Params=params, ExpiresIn=inputs.expires_seconds)
        )
        return PresignOutput(url=str(url))


class S3(Connector[NoConfig]):
    """S3-compatible object storage."""

    name = "s3"
    title = "S3-compatible storage"
    auth = AuthSpec(
        type="api_key",
        fields=[
            CredentialField(name="access_key_id", title="Access key id", secret=False),
            CredentialField(name="secret_access_key", title="Secret access key"),
            CredentialField(name="region", title="Region (us-east-1 when empty)", secret=False),
            CredentialField(
                name="endpoint_url", title="Endpoint for MinIO, R2, Wasabi, B2 (empty for AWS)", secret=False
            ),
        ],
    )
    actions = (PutObject, GetObject, DeleteObject, ListObjects, PresignUrl)
    secrets = SECRETS

    def test_connection(self, request: ConnectionCheck, config: NoConfig, context: Context) -> ConnectionStatus:
        """List the credential's buckets."""
        try:
            answer = _call(context, lambda c: c.list_buckets())
        except (ConfigurationError, NonRetryableError, RetryableError) as exc:
            return ConnectionStatus(ok=False, message=exc.message)
        return ConnectionStatus(ok=True, message=f"{len(answer.get('Buckets', []))} buckets visible")


class NewObjectConfig(BaseModel):
    """Where to watch."""

    model_config = ConfigDict(extra="forbid")

    bucket: str = Field(pattern=BUCKET)
    prefix: str = ""
    backfill: bool = False


class NewObject(Trigger[NewObjectConfig]):
    """Objects whose keys sort after the last one emitted (for keys that grow: dated paths, ULIDs)."""

    name = "new_object"
    secrets = SECRETS

    def poll(self, request: PollRequest, config: NewObjectConfig, context: Context) -> PollResult:
        """List after the cursor key."""
        cursor = (request.state or {}).get("cursor")
        objects, _ = _list(context, config.bucket, config.prefix, 1000, start_after=str(cursor) if cursor else None)
        last = objects[-1]["key"] if objects else cursor
        if request.state is None and not config.backfill:
            return PollResult(events=[], state={"cursor": last})
        return PollResult(events=objects, state={"cursor": last})


@hookimpl
def synthral_connectors() -> Sequence[Connector[Any]]:
    """Offer the S3 connector (its actions come with it)."""
    return [S3()]


@hookimpl
def synthral_triggers() -> Sequence[Trigger[Any]]:
    """Offer the new-object trigger."""
    return [NewObject()]
