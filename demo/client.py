"""A thin HTTP client for the demo: every call goes through the real API and fails loudly."""

from __future__ import annotations

import uuid
from typing import Any

import httpx


class ApiError(RuntimeError):
    """A refused call, with the engine's error body (``code``, ``message``, ``field``)."""

    def __init__(self, method: str, path: str, response: httpx.Response) -> None:
        super().__init__(f"{method} {path} → {response.status_code}: {response.text}")
        self.status = response.status_code
        try:
            self.body: dict[str, Any] = dict(response.json())
        except ValueError:
            self.body = {}


class Client:
    """One organisation's view of the API (its bearer key on every request)."""

    def __init__(self, http: httpx.Client, token: str | None = None) -> None:
        self.http = http
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def as_org(self, token: str) -> Client:
        return Client(self.http, token)

    def request(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool = False,
        expect: int | None = None,
        **kwargs: Any,
    ) -> Any:
        headers = dict(self.headers) | dict(kwargs.pop("headers", None) or {})
        if idempotent:
            headers["Idempotency-Key"] = f"demo-{uuid.uuid4().hex}"
        response = self.http.request(method, path, headers=headers, **kwargs)
        if (expect is not None and response.status_code != expect) or (
            expect is None and response.status_code >= 400
        ):
            raise ApiError(method, path, response)
        return response.json() if response.content else None

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)
