"""``python -m engine`` is the ``sanyi`` command."""

from engine.cli import app

app(prog_name="sanyi")
