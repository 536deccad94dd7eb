"""The ``request`` node: one HTTP request, sent with httpx."""

from __future__ import annotations

import asyncio
import email.utils
import functools
import json
import logging
import math
import ssl
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Final
from urllib.parse import urlencode

import httpx

from synthral_http._auth import CREDENTIAL_NAME, Credential, Redactor, may_carry_credential, safe_url
from synthral_http._response import Spool, excerpt, read_body, to_body
from synthral_http.models import QueryValue, RequestConfig, RequestInput, RequestOutput
from synthral_sdk import Context, Node
from synthral_sdk.errors import NonRetryableError, RetryableError, SynthralError
from synthral_sdk.types import JSONValue

__all__ = ["HttpRequest", "parse_retry_after"]

# httpx logs each request at INFO with its full URL, and query strings carry API keys.
# The node logs its own line without them, so the library's lines are kept to warnings
# unless an application configured these loggers on purpose.
for _name in ("httpx", "httpcore"):
    if logging.getLogger(_name).level == logging.NOTSET:
        logging.getLogger(_name).setLevel(logging.WARNING)

_KEYED_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})

_STATUS_HINTS: Final = {
    400: "the server rejected the request; check the body and query against the API's documentation",
    401: "the server wants valid credentials; configure auth and grant the node a credential, or renew it",
    403: "the credential lacks permission for this resource",
    404: "check the URL",
    405: "check the method",
    409: "the request conflicts with the resource's current state",
    415: "set content_type to a type the server accepts",
    422: "the server could not process the body; check its fields",
}


@functools.cache
def _ssl_context(verify: bool) -> ssl.SSLContext:
    # Building a context loads the CA bundle, which costs milliseconds; contexts are safe to
    # share, so each kind is built once per process instead of once per call.
    return httpx.create_ssl_context(verify=verify)


def parse_retry_after(value: str | None, now: datetime | None = None) -> int | None:
    """Seconds to wait according to a Retry-After header (delay seconds or an HTTP date).

    Args:
        value: The header's value, or ``None`` when the response had none.
        now: The current time, for tests; defaults to the clock.

    Returns:
        Whole seconds, never negative, or ``None`` when the header is absent or unreadable.
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return int(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0, math.ceil((when - (now or datetime.now(UTC))).total_seconds()))


class HttpRequest(Node[RequestInput, RequestOutput, RequestConfig]):
    """Send one HTTP request and return the response's status, headers and body.

    JSON and text bodies come back inline, binary ones (and text over ``max_inline_bytes``)
    as blob references. Error statuses fail the step unless ``raise_for_status`` is off:
    429 and 5xx as retryable, other 4xx as not. A credential granted as the secret
    ``credential`` is attached as configured in ``auth`` and never logged.
    """

    name = "request"
    title = "HTTP Request"
    category = "Network"
    icon = "globe"
    secrets = (CREDENTIAL_NAME,)

    async def run(self, inputs: RequestInput, config: RequestConfig, context: Context) -> RequestOutput:
        """Send the request described by ``inputs`` and read its response.

        Args:
            inputs: Method, URL, headers, query and at most one body.
            config: Timeouts, redirects, TLS, response reading, error policy and auth.
            context: Gives the credential, the blob store, the idempotency key and the log.

        Returns:
            The response.

        Raises:
            ConfigInvalid: Auth is configured but no usable credential was granted.
            InputInvalid: ``body_blob`` is not in the blob store.
            EgressDenied: The URL, or a redirect, leads to an address the network policy refuses
                (loopback on a server, private, link-local/metadata) and the operator did not allow.
            RetryableError: A transport failure, a timeout, or a 429 / 5xx answer.
            NonRetryableError: Another 4xx answer, too many redirects, a TLS certificate
                that fails verification, or a body that is not the JSON it must be.
        """
        credential = Credential.from_context(config.auth, context.secrets)
        redact = Redactor(credential)
        headers, content = await _outgoing(inputs, config, context)
        shown = redact(safe_url(httpx.URL(inputs.url)))
        tls = _ssl_context(config.verify_tls)  # before the clock starts: the first call builds it
        outcome = "failed"
        note: str | None = None
        started = time.perf_counter()
        try:
            # The call's network policy applies to every connection, redirects included.
            async with context.http_client(timeout=config.timeout, verify=tls) as client:
                request = client.build_request(
                    inputs.method, _with_query(inputs.url, inputs.query), headers=headers, content=content
                )
                if credential is not None:
                    credential.apply(request)
                with Spool(config.max_inline_bytes) as spool:
                    response, followed = await _fetch(
                        client, request, config, credential=credential, redact=redact, spool=spool
                    )
                    elapsed_ms = round((time.perf_counter() - started) * 1000)
                    outcome = str(response.status_code)
                    if config.raise_for_status and response.status_code >= 400:
                        said = excerpt(spool, response)
                        raise _status_error(response, redact, said and redact(said))
                    body, note = await to_body(spool, response, config.response_format, context.blobs)
        except SynthralError as exc:
            if outcome == "failed":
                outcome = f"failed ({exc.details.get('error', type(exc).__name__)})"
            raise
        finally:
            took = round((time.perf_counter() - started) * 1000)
            context.log.info("%s %s → %s in %d ms", inputs.method, shown, outcome, took)
        if note is not None:
            context.log.info("%s %s: %s", inputs.method, shown, note)
        mask = credential.mask_url if credential is not None else (lambda url: url)
        return RequestOutput(
            status=response.status_code,
            ok=response.is_success,
            url=str(mask(response.url)),
            headers=_headers(response),
            format=body.format,
            json_data=body.json,
            text=body.text,
            blob=body.blob,
            elapsed_ms=elapsed_ms,
            redirects=[str(mask(url)) for url in followed],
        )


def _with_query(url: str, query: Mapping[str, QueryValue]) -> httpx.URL:
    """Append ``query`` to the URL's own query string, whose bytes stay as given.

    Not httpx's ``params=``: since 0.28 it replaces the URL's query instead of adding to
    it, and re-encoding it would break signed URLs.
    """
    base = httpx.URL(url)
    if not query:
        return base
    extra = str(httpx.QueryParams(query))
    raw = base.query.decode("ascii")
    return base.copy_with(query=f"{raw}&{extra}".encode("ascii") if raw else extra.encode("ascii"))


async def _outgoing(
    inputs: RequestInput, config: RequestConfig, context: Context
) -> tuple[httpx.Headers, bytes | None]:
    """The request's headers and encoded body, with the Content-Type the body implies.

    For methods that change state, the step's idempotency key goes along so that a
    server which deduplicates can recognise a retry of the same step.
    """
    headers = httpx.Headers(inputs.headers)
    content: bytes | None = None
    default_type: str | None = None
    if inputs.json_body is not None:
        # Compact and UTF-8, as httpx's own json= encodes.
        content = json.dumps(inputs.json_body, ensure_ascii=False, separators=(",", ":")).encode()
        default_type = "application/json"
    elif inputs.form is not None:
        content = urlencode(inputs.form).encode("ascii")
        default_type = "application/x-www-form-urlencoded"
    elif inputs.body is not None:
        content = inputs.body.encode()
        default_type = "text/plain; charset=utf-8"
    elif inputs.body_blob is not None:
        # Reading a file is blocking I/O; keep the event loop free for other calls.
        content = await asyncio.to_thread(context.blobs.get, inputs.body_blob)
        default_type = inputs.body_blob.media_type
    if inputs.content_type is not None:
        headers["Content-Type"] = inputs.content_type
    elif default_type is not None and "content-type" not in headers:
        headers["Content-Type"] = default_type
    if (
        config.send_idempotency_key
        and inputs.method in _KEYED_METHODS
        and context.idempotency_key
        and "idempotency-key" not in headers
    ):
        headers["Idempotency-Key"] = context.idempotency_key
    return headers, content


async def _fetch(
    client: httpx.AsyncClient,
    request: httpx.Request,
    config: RequestConfig,
    *,
    credential: Credential | None,
    redact: Redactor,
    spool: Spool,
) -> tuple[httpx.Response, list[httpx.URL]]:
    """Send ``request``, follow redirects and read the final body into ``spool``, within the timeout.

    Raises:
        RetryableError: A transport failure or the timeout.
        NonRetryableError: Too many redirects, or a failure no retry can fix.
    """
    try:
        async with asyncio.timeout(config.timeout):
            response, followed = await _exchange(client, request, config, credential, redact)
            try:
                await read_body(response, spool)
            finally:
                await response.aclose()
    except TimeoutError:
        raise _deadline_error(request, redact, config.timeout) from None
    except httpx.HTTPError as exc:
        raise _transport_error(exc, request, redact) from None
    return response, followed


async def _exchange(
    client: httpx.AsyncClient,
    request: httpx.Request,
    config: RequestConfig,
    credential: Credential | None,
    redact: Redactor,
) -> tuple[httpx.Response, list[httpx.URL]]:
    """Send ``request`` and follow redirects by hand; return the last response and the URLs that redirected.

    Redirects are followed here rather than by httpx so that a credential in a custom
    header or query parameter never reaches another origin (httpx strips only
    ``Authorization``), and so the limit fails with a message naming it.
    """
    origin = request.url
    followed: list[httpx.URL] = []
    while True:
        response = await client.send(request, stream=True)
        following = response.next_request
        if not config.follow_redirects or following is None:
            return response, followed
        await response.aclose()
        followed.append(request.url)
        if len(followed) > config.max_redirects:
            chain: list[JSONValue] = [redact(safe_url(url)) for url in followed]
            raise NonRetryableError(
                f"{request.method} {chain[0]} redirected more than {config.max_redirects} times (the config's "
                f"max_redirects), last to {redact(safe_url(following.url))}; the server may redirect in a loop. "
                "Check the URL, or raise max_redirects if the chain is legitimate",
                details={"max_redirects": config.max_redirects, "redirects": chain, "error": "TooManyRedirects"},
            )
        if credential is not None:
            credential.remove(following)
            if may_carry_credential(origin, following.url):
                credential.apply(following)
        request = following


def _headers(response: httpx.Response) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in response.headers.multi_items():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


def _host(url: httpx.URL) -> str:
    return f"{url.host}:{url.port}" if url.port else url.host


def _failed_request(exc: httpx.HTTPError, fallback: httpx.Request) -> httpx.Request:
    # httpx attaches the request to most errors, which names the hop that failed when
    # redirects were followed; the first request is the best guess otherwise.
    try:
        return exc.request
    except RuntimeError:
        return fallback


def _certificate_error(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLCertVerificationError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _transport_error(exc: httpx.HTTPError, fallback: httpx.Request, redact: Redactor) -> SynthralError:
    """Translate an httpx failure into the SDK's error tree, naming the host and the cause."""
    failed = _failed_request(exc, fallback)
    method, url = failed.method, failed.url
    host = _host(url)
    shown = redact(safe_url(url))
    cause = f"{type(exc).__name__}: {redact(str(exc))}" if str(exc) else type(exc).__name__
    details: dict[str, JSONValue] = {"host": host, "url": shown, "error": type(exc).__name__}
    if isinstance(exc, httpx.TimeoutException):
        phase = {
            httpx.ConnectTimeout: "connecting to",
            httpx.ReadTimeout: "waiting for data from",
            httpx.WriteTimeout: "sending the body to",
            httpx.PoolTimeout: "waiting for a free connection to",
        }.get(type(exc), "talking to")
        return RetryableError(
            f"{method} {shown} timed out while {phase} {host} ({cause}); the call will be retried. Raise the "
            "config's timeout if the server is just slow",
            details=details,
        )
    if (certificate := _certificate_error(exc)) is not None:
        return NonRetryableError(
            f"{method} {shown}: the TLS certificate of {host} failed verification ({certificate.verify_message}); "
            "fix the server's certificate, or set verify_tls to false if you trust this host",
            details=details,
        )
    if isinstance(exc, httpx.ConnectError):
        message = f"{method} {shown}: could not connect to {host} ({cause}); check that the server is up"
    elif isinstance(exc, httpx.RemoteProtocolError):
        message = f"{method} {shown}: {host} broke the HTTP protocol ({cause})"
    elif isinstance(exc, httpx.NetworkError | httpx.ProxyError):
        message = f"{method} {shown}: the connection to {host} failed ({cause})"
    elif isinstance(exc, httpx.UnsupportedProtocol):
        return NonRetryableError(
            f"{method} {shown}: a redirect led to a URL that is not http or https ({cause}); set follow_redirects "
            "to false to receive the redirect itself",
            details=details,
        )
    elif isinstance(exc, httpx.DecodingError):
        return NonRetryableError(
            f"{method} {shown}: {host} sent a body its Content-Encoding does not describe ({cause})", details=details
        )
    elif isinstance(exc, httpx.LocalProtocolError):
        return NonRetryableError(
            f"{method} {shown}: the request could not be sent ({cause}); check the input's headers", details=details
        )
    else:
        message = f"{method} {shown}: the request to {host} failed ({cause})"
    return RetryableError(f"{message}; the call will be retried", details=details)


def _deadline_error(request: httpx.Request, redact: Redactor, timeout: float) -> RetryableError:
    host, shown = _host(request.url), redact(safe_url(request.url))
    return RetryableError(
        f"{request.method} {shown} timed out: {host} did not answer and send its whole body within {timeout:g} s "
        "(the config's timeout). The call will be retried; raise the timeout if the server is just slow",
        details={"host": host, "url": shown, "timeout": timeout, "error": "Timeout"},
    )


def _status_error(response: httpx.Response, redact: Redactor, said: str | None) -> SynthralError:
    status, method = response.status_code, response.request.method
    shown = redact(safe_url(response.url))
    head = f"{method} {shown} answered {status} {response.reason_phrase}".rstrip()
    if said:
        head += f" ({said})"
    if status == 429 or status >= 500:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        why = "the server is rate limiting" if status == 429 else "the server failed"
        when = "later" if retry_after is None else f"after {retry_after} s"
        return RetryableError(
            f"{head}: {why}; the call will be retried {when}. Set raise_for_status to false to handle the "
            "status in the workflow instead",
            details={"status": status, "retry_after": retry_after, "url": shown},
        )
    hint = _STATUS_HINTS.get(status, "check the request against the API's documentation")
    return NonRetryableError(
        f"{head}: {hint}. Set raise_for_status to false to handle the status in the workflow instead",
        details={"status": status, "url": shown},
    )
