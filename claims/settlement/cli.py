"""``sanyi claims ...``: load benefit policies from a JSON file (the same document as the API)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from engine.terminal import console, run

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from claims.settlement.schemas import PolicyLoad, PolicyLoadResult

app = typer.Typer(no_args_is_help=True)


def read_policy_file(path: Path) -> PolicyLoad:
    """A policy document; keys starting with '_' are comments (demo data marks itself so)."""
    from claims.settlement.schemas import PolicyLoad

    raw = json.loads(path.read_text(encoding="utf-8"))
    return PolicyLoad.model_validate({k: v for k, v in raw.items() if not k.startswith("_")})


@app.command("load-policy")
def load_policy(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="policy JSON")],
    region: Annotated[str, typer.Option(help="pooling region admdvs, e.g. 230100")],
) -> None:
    """Load benefit policy versions for a region."""
    from claims.settlement.service import policies
    from engine.auth import CLI_OPERATOR

    body = read_policy_file(file)

    async def work(session: AsyncSession) -> PolicyLoadResult:
        return await policies.load(session, CLI_OPERATOR, region, body)

    result = run(work)
    console.print(
        f"loaded {result.basic} basic, {result.critical_illness} critical-illness and "
        f"{result.assistance} assistance rows for {result.admdvs}"
    )
