"""The desktop's HTTP client for its local host and for team servers: the same API the web app uses."""

from __future__ import annotations

from typing import Any

import httpx

__all__ = ["ApiClient", "ApiError"]


class ApiError(Exception):
    """An API answered with a problem (or could not be reached): its status and message."""

    def __init__(self, status: int, message: str, problem: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.problem: dict[str, Any] = problem or {}
        """The problem+json body (``code``, ``details``...), empty when there was none."""

    @property
    def code(self) -> str | None:
        """The problem's machine-readable code (``approval_required``...)."""
        code = self.problem.get("code")
        return code if isinstance(code, str) else None


class ApiClient:
    """Calls under ``{base}/api/v1`` with ``headers`` (a launch token or an API key).

    Args:
        base: ``http://host:port`` of the host or server.
        headers: Sent with every call.
        timeout: Seconds per call.
    """

    def __init__(self, base: str, headers: dict[str, str] | None = None, timeout: float = 30.0) -> None:
        self.base = base.rstrip("/")
        # trust_env=False: a proxy set in the environment must never see the local host's token.
        # Idle connections are dropped before a server's keep-alive timeout (uvicorn: 5 s) closes them
        # under us, so a call never meets a connection closed on the other side.
        self._http = httpx.Client(
            base_url=f"{self.base}/api/v1",
            headers=headers or {},
            timeout=timeout,
            trust_env=False,
            limits=httpx.Limits(keepalive_expiry=2.0),
        )

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """One call; its JSON answer (None for 204).

        Raises:
            ApiError: The answer was an error, or the server could not be reached.
        """
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiError(0, f"{self.base} cannot be reached ({exc.__class__.__name__}: {exc})") from None
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = None
            problem = body if isinstance(body, dict) else {}
            detail = problem.get("detail")
            raise ApiError(response.status_code, str(detail or response.text[:300] or response.reason_phrase), problem)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def items(self, path: str) -> list[dict[str, Any]]:
        """Every item of a listing (``{items, next_cursor}`` or a bare list), following cursors."""
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page = self.call("GET", path, params={"cursor": cursor} if cursor else None)
            if isinstance(page, list):
                return page
            found.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return found
