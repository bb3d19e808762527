"""The HIS developer's guides run as written: every ```sh block of ``docs/his-integration.md``
and then of every other ``docs/his-integration*.md`` (each continuing in the same shell), in
order, against a real server on a fresh database whose only key is the operator's
(``$ADMIN_KEY``). Every block must exit 0, and every request in it checks its HTTP status
(``curl ... -w '%{http_code}\\n' | grep -qx <status>``), so an answer that changes shape or
status fails here before it misleads an integrator."""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from demo.run import bootstrap_admin
from demo.server import running_server
from engine import migrate
from engine.settings import Settings, get_settings
from tests.scratch import scratch_database_url

DOCS = Path(__file__).resolve().parents[2] / "docs"
FIRST = DOCS / "his-integration.md"
BLOCK = re.compile(r"^```sh\n(.*?)^```$", re.MULTILINE | re.DOTALL)
STATUS_CHECK = re.compile(r"-w '%\{http_code\}\\n'.*?\| grep -qx [1-5][0-9]{2}\b", re.DOTALL)
DONE = "@@his-integration-block-done"


@dataclass(frozen=True)
class Block:
    guide: str
    number: int
    text: str

    def __str__(self) -> str:
        return f"{self.guide}, sh block {self.number}:\n{self.text}"


def guides() -> list[Path]:
    """``his-integration.md`` first (it makes the keys), then the others by name."""
    return [FIRST, *sorted(set(DOCS.glob("his-integration*.md")) - {FIRST})]


def blocks() -> list[Block]:
    return [
        Block(guide.name, number, match.group(1))
        for guide in guides()
        for number, match in enumerate(BLOCK.finditer(guide.read_text(encoding="utf-8")), 1)
    ]


def script(found: list[Block]) -> str:
    """One bash script of every block, each followed by a marker saying it completed; the
    first failing command ends it (``set -e``, ``pipefail``)."""
    parts = ["set -euo pipefail"]
    for index, block in enumerate(found):
        parts += [block.text, f"echo {DONE} {index}"]
    return "\n".join(parts) + "\n"


def test_every_request_checks_its_status() -> None:
    found = blocks()
    assert len(found) > 10, "the guide has lost its examples"
    for block in found:
        requests = block.text.count("curl ")
        assert len(STATUS_CHECK.findall(block.text)) == requests, f"unchecked status in {block}"


@pytest.fixture
def live_server() -> Iterator[tuple[str, str]]:
    """(base URL, operator key) of a real server on a fresh, migrated database."""
    with pytest.MonkeyPatch.context() as patch, scratch_database_url() as url:
        patch.setenv("SANYI_SECRET_KEY", secrets.token_hex(32))
        patch.setenv("DATABASE_URL", url)  # the embedded worker's actors read it too
        patch.delenv("BROKER_URL", raising=False)
        get_settings.cache_clear()
        migrate.upgrade(url)
        settings = Settings(database_url=url, broker_url=None)
        admin_key = bootstrap_admin(settings)
        with running_server(settings) as base_url:
            yield base_url, admin_key
    get_settings.cache_clear()


@pytest.mark.skipif(
    shutil.which("curl") is None or shutil.which("jq") is None, reason="needs curl and jq"
)
def test_the_guides_run_against_a_live_server(live_server: tuple[str, str], tmp_path: Path) -> None:
    base_url, admin_key = live_server
    found = blocks()
    work = tmp_path / "his"
    work.mkdir()
    result = subprocess.run(
        ["bash", "-c", script(found)],
        cwd=work,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "SANYI": base_url, "ADMIN_KEY": admin_key},
        capture_output=True,
        text=True,
        timeout=300,
    )
    done = result.stdout.count(DONE)
    assert result.returncode == 0 and done == len(found), (
        f"failed at {found[min(done, len(found) - 1)]}\n"
        f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}"
    )
