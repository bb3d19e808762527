"""The API's CPU cost of one settle as an instruction count, whatever the host's speed.

On a shared machine the wall-clock figures of ``bench/settle.py`` swing by a factor of two from one
half-hour to the next, too much to tell a 10 % change from noise. This counts instead:

1. A fresh database prepared as ``bench/settle.py`` prepares it (the demo region through a real API
   process, then bulk-copied claims).
2. Settles run in-process through the ASGI app (the real PostgreSQL, the broker configured as in
   production) under ``valgrind --tool=callgrind``, once with ``--small`` and once with
   ``--large`` settles; the difference of the two instruction totals, divided by the difference
   of the counts, is what one settle costs the API process in user space (start-up and imports
   cancel out). PostgreSQL's side is not counted.

Each settle is sent the way an ASGI server hands a request to the app (``--client asgi``, the
default: one scope, one body message), so the count is the API's alone. ``--client httpx`` sends
it through httpx's ASGI transport instead, as this bench did before: that client's own work, about
a fifth of the total, is then counted as the API's, which is what the figures recorded with it
in docs/performance.md include.

Prints instructions per settle. Asserts nothing. Needs valgrind.
Usage: ``.venv/bin/python bench/settle_instructions.py [--small 20] [--large 80] [--client asgi]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import httpx
import settle as bench  # bench/settle.py: the same preparation
from starlette.types import ASGIApp, Message, Scope

from demo.run import bootstrap_admin
from engine import migrate
from engine.app import create_app
from engine.settings import Settings


def _prepare(database: str, claims: int) -> dict[str, Any]:
    url = bench.recreate_database(database)
    migrate.upgrade(url)
    admin_token = bootstrap_admin(Settings(database_url=url))
    port = 8700 + secrets.randbelow(200)
    server = bench.start_server(url, port, 1)
    try:
        bench.wait_healthy(f"http://127.0.0.1:{port}", server)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            hospital, _, template = bench.template_claim(http, admin_token)
    finally:
        server.terminate()
        server.wait(timeout=30)
    mdtrt_ids = bench.bulk_copy(url, template["mdtrt_id"], claims, claims)
    return {"url": url, "headers": dict(hospital.headers), "mdtrt_ids": mdtrt_ids}


_BODY = json.dumps({"acct_used_flag": True}).encode()


async def _asgi_post(app: ASGIApp, path: str, headers: dict[str, str], body: bytes) -> int:
    """POST ``body`` to ``path`` as an ASGI server hands a request to the app; the status."""
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (name.lower().encode(), value.encode())
            for name, value in (
                headers
                | {
                    "host": "bench",
                    "content-type": "application/json",
                    "content-length": str(len(body)),
                }
            ).items()
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("bench", 80),
    }
    messages: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]
    answer: list[Message] = []

    async def receive() -> Message:
        return messages.pop() if messages else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        answer.append(message)

    await app(scope, receive, send)
    status: int = answer[0]["status"]
    if status != 201:
        body_sent = b"".join(message.get("body", b"") for message in answer)
        raise RuntimeError(f"settle answered {status}: {body_sent!r}")
    return status


async def _settle_in_process(state: dict[str, Any], mdtrt_ids: list[str], client: str) -> None:
    app = create_app(Settings(database_url=state["url"]))
    headers: dict[str, str] = state["headers"]
    async with app.router.lifespan_context(app):
        if client == "asgi":
            for mdtrt_id in mdtrt_ids:
                key = {"Idempotency-Key": uuid.uuid4().hex}
                await _asgi_post(app, f"/v1/visits/{mdtrt_id}/settlement", headers | key, _BODY)
            return
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            for mdtrt_id in mdtrt_ids:
                response = await http.post(
                    f"/v1/visits/{mdtrt_id}/settlement",
                    json={"acct_used_flag": True},
                    headers=headers | {"Idempotency-Key": uuid.uuid4().hex},
                )
                if response.status_code != 201:
                    raise RuntimeError(f"settle answered {response.status_code}: {response.text}")


#: Valgrind runs the process some fifty times slower: bounds that would answer 503 to a request
#: running that slowly are lifted (they take the same code path whatever their value).
_UNHURRIED = {
    "SANYI_DB_DEADLINE": "600",
    "SANYI_DB_STATEMENT_TIMEOUT": "600",
    "SANYI_DB_POOL_TIMEOUT": "600",
    "SANYI_DB_CONNECT_TIMEOUT": "60",
}


def _instructions(state_file: Path, start: int, count: int, client: str) -> int:
    """Total instructions of a process that settles ``count`` claims from ``start``."""
    with tempfile.TemporaryDirectory() as scratch:
        run = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={scratch}/callgrind.out",
                sys.executable,
                __file__,
                "--run",
                str(state_file),
                str(start),
                str(count),
                client,
            ],
            env=dict(os.environ, PYTHONMALLOC="malloc", BROKER_URL=bench.BROKER, **_UNHURRIED),
            capture_output=True,
            text=True,
        )
    out = run.stderr
    if run.returncode != 0:
        raise RuntimeError(f"the settles under valgrind failed:\n{out[-4000:]}")
    match = re.findall(r"Collected : (\d+)", out)
    if not match:
        raise RuntimeError(f"valgrind printed no total:\n{out[-2000:]}")
    return int(match[-1])


def main() -> None:
    bench.use_a_bench_secret_key()  # the --run child inherits it
    if sys.argv[1:2] == ["--run"]:
        state = json.loads(Path(sys.argv[2]).read_text())
        start, count, client = int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
        asyncio.run(_settle_in_process(state, state["mdtrt_ids"][start : start + count], client))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=20)
    parser.add_argument("--large", type=int, default=80)
    parser.add_argument("--database", default="sanyi_bench_instructions")
    parser.add_argument("--client", choices=("asgi", "httpx"), default="asgi")
    args = parser.parse_args()

    state = _prepare(args.database, args.small + args.large)
    with tempfile.NamedTemporaryFile("w", suffix=".json") as state_file:
        json.dump(state, state_file)
        state_file.flush()
        small = _instructions(Path(state_file.name), 0, args.small, args.client)
        large = _instructions(Path(state_file.name), args.small, args.large, args.client)
    per_settle = (large - small) / (args.large - args.small)
    print(f"instructions:        {small:,} for {args.small} settles, {large:,} for {args.large}")
    print(f"API per settle:      {per_settle / 1e6:.2f} million instructions (user space)")
    print(f"client:              {args.client}")


if __name__ == "__main__":
    main()
