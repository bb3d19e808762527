"""The contract recorder: every refusal the app answers during a test run must be documented.

Every FastAPI application called in this process (the ``client`` fixture's, the real servers the
fuzz and race tests start in a thread) is observed: each answer of 400 or above to a request that
matches a published operation is recorded as (method, path template, status, code). At the end
of the session each one must appear in that operation's documented responses, the status with
the code listed in its ``x-sanyi-codes``; the session fails naming every one that does not.

Routes a test mounts for itself (not in the published OpenAPI) and requests matching no route are
not the contract's business; refusals answered before routing (the edge's character check) name
no route and are documented on every operation instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from starlette.types import Message, Receive, Scope, Send

from engine.openapi import CODES_EXTENSION


@dataclass(frozen=True)
class Answer:
    """One refusal as the contract sees it."""

    method: str
    path: str
    status: int
    code: str | None

    def __str__(self) -> str:
        return f"{self.method} {self.path} -> {self.status} {self.code}"


class Recorder:
    """Collects :class:`Answer` s from every app call while installed."""

    def __init__(self) -> None:
        self.answers: set[Answer] = set()

    def install(self) -> Callable[[], None]:
        """Wrap ``FastAPI.__call__``; returns the function that restores it."""
        original: Callable[[FastAPI, Scope, Receive, Send], Coroutine[Any, Any, None]] = (
            FastAPI.__call__
        )
        recorder = self

        async def observed(self: FastAPI, scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await original(self, scope, receive, send)
                return
            status = 0
            body = bytearray()

            async def observing_send(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                elif message["type"] == "http.response.body" and status >= 400:
                    body.extend(message.get("body", b""))
                await send(message)

            await original(self, scope, receive, observing_send)
            if status >= 400:
                recorder.note(self, scope, status, bytes(body))

        FastAPI.__call__ = observed  # type: ignore[method-assign]

        def restore() -> None:
            FastAPI.__call__ = original  # type: ignore[method-assign,assignment]

        return restore

    def note(self, app: FastAPI, scope: Scope, status: int, body: bytes) -> None:
        """Record a refusal of the operation the router matched (``scope["route"]``, set as it
        routes, is the declared route; its published path carries the prefixes it was included
        under). An answer given before routing or for no route is no operation's."""
        matched = scope.get("route")
        templates = [
            template
            for route in iter_route_contexts(app.routes)
            if route.original_route is matched and (template := route.path_format)
        ]
        if not templates:
            return
        try:
            code = json.loads(body).get("code")
        except (ValueError, AttributeError):
            code = None
        self.answers.add(Answer(scope["method"], templates[0], status, code))

    def undocumented(self, openapi: dict[str, Any]) -> list[Answer]:
        """The recorded answers the published document does not list, in order."""
        missing = []
        for answer in sorted(self.answers, key=_order):
            operation = openapi["paths"].get(answer.path, {}).get(answer.method.lower())
            if operation is None:
                continue  # a route a test mounted for itself
            documented = operation["responses"].get(str(answer.status))
            if documented is None:
                missing.append(answer)
            elif CODES_EXTENSION in documented and answer.code not in documented[CODES_EXTENSION]:
                missing.append(answer)  # a problem whose code is not listed (a body of its own,
                # such as the health report's, has none to list)
        return missing


def _order(answer: Answer) -> tuple[str, str, int, str]:
    return (answer.path, answer.method, answer.status, answer.code or "")
