"""Run the test suite once per backend and say which backends ran.

PostgreSQL and RabbitMQ are used whenever they answer on loopback. In CI (``CI`` set) they must
answer: a green run that silently skipped the real database would prove nothing.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys

PG_SERVER = os.environ.get("SANYI_TEST_PG_SERVER", "postgres@127.0.0.1:5432")


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=3):
            return True
    except OSError:
        return False


def _postgres_up() -> bool:
    import psycopg

    try:
        psycopg.connect(f"postgresql://{PG_SERVER}/postgres", connect_timeout=3).close()
    except psycopg.Error:
        return False
    return True


def _run(backend: str, extra: list[str]) -> dict[str, int]:
    env = dict(os.environ, SANYI_TEST_BACKEND=backend)
    env.pop("DATABASE_URL", None)
    env.pop("BROKER_URL", None)
    print(f"\n=== pytest on {backend} ===", flush=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *extra, *sys.argv[1:]],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    last = ""
    for line in proc.stdout:
        print(line, end="", flush=True)
        if line.strip():
            last = line
    proc.wait()
    counts = {k: 0 for k in ("passed", "failed", "errors", "skipped")}
    for number, word in re.findall(r"(\d+) (passed|failed|errors?|skipped)", last):
        counts["errors" if word.startswith("error") else word] += int(number)
    if proc.returncode not in (0, 1) and not counts["failed"]:
        counts["errors"] += 1
    return counts


def main() -> int:
    in_ci = bool(os.environ.get("CI"))
    pg, mq = _postgres_up(), _port_open("127.0.0.1", 5672)
    if in_ci and not (pg and mq):
        print(f"CI needs PostgreSQL and RabbitMQ (postgresql up: {pg}, rabbitmq up: {mq})")
        return 1
    marker = [] if mq else ["-m", "not rabbitmq"]
    if not mq:
        print("RabbitMQ is not reachable: tests marked rabbitmq are deselected")
    results: dict[str, dict[str, int]] = {}
    if pg:
        results["postgresql"] = _run("postgresql", marker)
    else:
        print("PostgreSQL is not reachable: running on SQLite only")
    results["sqlite"] = _run("sqlite", ["-m", "not postgres_only and not rabbitmq"])
    print("\n=== backends ===")
    for backend, c in results.items():
        print(
            f"{backend}: {c['passed']} passed, {c['failed']} failed, {c['errors']} errors, "
            f"{c['skipped']} skipped"
        )
    passed = sum(c["passed"] for c in results.values())
    failed = sum(c["failed"] + c["errors"] for c in results.values())
    print(f"tests: {passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
