"""The API's CPU cost of one settle as an instruction count, whatever the host's speed.

On a shared machine the wall-clock figures of ``bench/settle.py`` swing by a factor of two from one
half-hour to the next, too much to tell a 10 % change from noise. This counts instead:

1. A fresh database prepared as ``bench/settle.py`` prepares it (the demo region through a real API
   process, then bulk-copied claims).
2. Settles run in-process through the ASGI app (httpx's ASGI transport, the real PostgreSQL, the
   broker configured as in production) under ``valgrind --tool=callgrind``, once with ``--small``
   and once with ``--large`` settles; the difference of the two instruction totals, divided by the
   difference of the counts, is what one settle costs the API process in user space (start-up and
   imports cancel out). PostgreSQL's side is not counted.

Prints instructions per settle. Asserts nothing. Needs valgrind.
Usage: ``.venv/bin/python bench/settle_instructions.py [--small 20] [--large 80]``
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


async def _settle_in_process(state: dict[str, Any], mdtrt_ids: list[str]) -> None:
    app = create_app(Settings(database_url=state["url"]))
    headers: dict[str, str] = state["headers"]
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://bench") as client,
    ):
        for mdtrt_id in mdtrt_ids:
            response = await client.post(
                f"/v1/visits/{mdtrt_id}/settlement",
                json={"acct_used_flag": True},
                headers=headers | {"Idempotency-Key": uuid.uuid4().hex},
            )
            if response.status_code != 201:
                raise RuntimeError(f"settle answered {response.status_code}: {response.text}")


def _instructions(state_file: Path, start: int, count: int) -> int:
    """Total instructions of a process that settles ``count`` claims from ``start``."""
    with tempfile.TemporaryDirectory() as scratch:
        out = subprocess.run(
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
            ],
            env=dict(os.environ, PYTHONMALLOC="malloc", BROKER_URL=bench.BROKER),
            capture_output=True,
            text=True,
            check=True,
        ).stderr
    match = re.findall(r"Collected : (\d+)", out)
    if not match:
        raise RuntimeError(f"valgrind printed no total:\n{out[-2000:]}")
    return int(match[-1])


def main() -> None:
    bench.use_a_bench_secret_key()  # the --run child inherits it
    if sys.argv[1:2] == ["--run"]:
        state = json.loads(Path(sys.argv[2]).read_text())
        start, count = int(sys.argv[3]), int(sys.argv[4])
        asyncio.run(_settle_in_process(state, state["mdtrt_ids"][start : start + count]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=20)
    parser.add_argument("--large", type=int, default=80)
    parser.add_argument("--database", default="sanyi_bench_instructions")
    args = parser.parse_args()

    state = _prepare(args.database, args.small + args.large)
    with tempfile.NamedTemporaryFile("w", suffix=".json") as state_file:
        json.dump(state, state_file)
        state_file.flush()
        small = _instructions(Path(state_file.name), 0, args.small)
        large = _instructions(Path(state_file.name), args.small, args.large)
    per_settle = (large - small) / (args.large - args.small)
    print(f"instructions:        {small:,} for {args.small} settles, {large:,} for {args.large}")
    print(f"API per settle:      {per_settle / 1e6:.2f} million instructions (user space)")


if __name__ == "__main__":
    main()
