"""Structured logs: one JSON object per line, with personal data removed before it is written.

Every process (the API's uvicorn workers, dramatiq workers, the scheduler, the CLI) logs through
the standard library, and one handler on the root logger renders each record with
:class:`JsonFormatter`. The formatter runs :func:`redact` on every record, whoever logged it
(Sanyi, SQLAlchemy, uvicorn, dramatiq), so personal data cannot reach the log by a path nobody
thought of:

- values under keys that name personal or secret data (``psn_name``, ``certno``,
  ``mdtrt_cert_no``, ``signature``, ``sign_value``, ``authorization`` ...) are replaced;
- anything shaped like a resident ID (17 digits and a check character) is masked in every string,
  messages and tracebacks included;
- a database error's ``DETAIL`` and ``CONTEXT`` lines (PostgreSQL puts the offending row's
  values there), the value PostgreSQL quotes in an "invalid input" message, and SQLAlchemy's
  ``[parameters: ...]`` are cut out of every string. Engines are also created with
  ``hide_parameters=True`` (engine/db.py), so SQL parameters are never rendered at all.

A log line made inside a request carries that request's ``request_id`` (engine/access.py sets it).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from contextvars import ContextVar
from typing import IO, Any, Final

import orjson
import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from engine.settings import Settings

REDACTED: Final = "[redacted]"
RESIDENT_ID_MASK: Final = "[resident-id]"

#: Keys whose values never reach a log, compared in lower case: the national names of personal
#: fields, signatures, and credentials.
SENSITIVE_KEYS: Final = frozenset(
    {
        "psn_name",
        "certno",
        "mdtrt_cert_no",
        "psn_cert_no",
        "signature",
        "sign_value",
        "authorization",
        "api_key",
        "token",
        "secret_key",
        "password",
    }
)

#: GB 11643 shape: 17 digits and a check character (a digit or X), not inside a longer token.
_RESIDENT_ID = re.compile(r"(?<![0-9A-Za-z])\d{17}[0-9Xx](?![0-9A-Za-z])")
#: PostgreSQL's DETAIL line ("Key (certno_hash)=(...) already exists", "Failing row contains
#: (...)") and CONTEXT line (a COPY error quotes the whole input row there), and SQLAlchemy's
#: rendering of a statement's parameters.
_DETAIL_LINE = re.compile(r"^[ \t]*(?:DETAIL|CONTEXT):.*$\n?", re.MULTILINE)
_PARAMETERS = re.compile(r"\[parameters: .*?\](?=\n|$)", re.DOTALL)
#: PostgreSQL quotes the rejected value in a data error: invalid input syntax for type x: "value".
_INVALID_INPUT = re.compile(r'(invalid input [^:\n]*: )"[^"\n]*"')

request_id: ContextVar[str | None] = ContextVar("sanyi_request_id", default=None)


def redact_text(text: str) -> str:
    """``text`` without DETAIL and CONTEXT lines, SQL parameters, quoted invalid values or
    resident IDs."""
    if "DETAIL:" in text or "CONTEXT:" in text:
        text = _DETAIL_LINE.sub("", text)
    if "[parameters:" in text:
        text = _PARAMETERS.sub("[parameters redacted]", text)
    if "invalid input" in text:
        text = _INVALID_INPUT.sub(rf'\1"{REDACTED}"', text)
    return _RESIDENT_ID.sub(RESIDENT_ID_MASK, text)


def _redacted(value: object) -> object:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {
            redact_text(str(key)): REDACTED
            if str(key).lower() in SENSITIVE_KEYS
            else _redacted(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_redacted(item) for item in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return redact_text(str(value))


def redact(_logger: WrappedLogger, _method: str, event: EventDict) -> EventDict:
    """structlog processor: the event with personal data and SQL parameters removed."""
    redacted = _redacted(event)
    assert isinstance(redacted, dict)
    return redacted


def add_request_id(_logger: WrappedLogger, _method: str, event: EventDict) -> EventDict:
    """structlog processor: the current request's id, on lines logged while it is handled."""
    current = request_id.get()
    if current is not None:
        event.setdefault("request_id", current)
    return event


#: Record attributes that are presentation, not data: ``message`` and ``asctime`` are left on a
#: shared record by another handler's formatter (``logging`` forbids them as ``extra``), and
#: uvicorn adds ``color_message``, its message with terminal colour codes.
_PRESENTATION_FIELDS: Final = ("message", "asctime", "color_message")


def drop_presentation_fields(_logger: WrappedLogger, _method: str, event: EventDict) -> EventDict:
    """structlog processor: the event without :data:`_PRESENTATION_FIELDS`."""
    for name in _PRESENTATION_FIELDS:
        event.pop(name, None)
    return event


def _orjson(event: Any, **_kw: Any) -> str:
    # Non-ASCII text stays as it is (a leaked name would be greppable as written, not escaped).
    return orjson.dumps(event, default=str).decode()


class JsonFormatter(structlog.stdlib.ProcessorFormatter):
    """Renders a standard-library record as one redacted JSON line (``console=True``: a readable
    line for a developer's terminal, redacted the same way)."""

    def __init__(self, *, console: bool = False) -> None:
        renderer: Processor = (
            structlog.dev.ConsoleRenderer(colors=False)
            if console
            else structlog.processors.JSONRenderer(serializer=_orjson)
        )
        super().__init__(
            foreign_pre_chain=[
                structlog.stdlib.add_log_level,
                structlog.stdlib.add_logger_name,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.stdlib.ExtraAdder(),
                drop_presentation_fields,
                add_request_id,
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                redact,
                renderer,
            ],
        )


def handler(stream: IO[str] | None = None, *, console: bool = False) -> logging.Handler:
    """A handler writing redacted lines to ``stream`` (standard error by default)."""
    out = logging.StreamHandler(stream or sys.stderr)
    out.setFormatter(JsonFormatter(console=console))
    return out


#: pika logs every failed connection attempt at ERROR with a traceback, several lines per attempt;
#: the relay and the probes report a broker outage themselves, once, in their own words. The
#: embedded scheduler (apscheduler) logs every run of every second-by-second job at INFO; the job
#: observer already writes one line per run that matters.
QUIET_LOGGERS: Final = {"pika": "CRITICAL", "apscheduler": "WARNING"}


def configure(settings: Settings, *, force: bool = False) -> None:
    """Route every logger of this process through one redacting handler on the root logger, at
    ``SANYI_LOG_LEVEL`` in ``SANYI_LOG_FORMAT``.

    Like ``logging.basicConfig``, it leaves a root logger that already has handlers alone (a host
    that configured logging itself, such as a test runner) unless ``force`` replaces them.
    """
    root = logging.getLogger()
    if root.handlers and not force:
        return
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler(console=settings.log_format == "console"))
    root.setLevel(settings.log_level.upper())
    for name, quiet in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(quiet)


def uvicorn_config(settings: Settings) -> dict[str, Any]:
    """``uvicorn.run(log_config=...)``: uvicorn applies it in each worker process it starts.

    uvicorn's own loggers propagate to the root handler, and its access log is off: the access
    line is engine/access.py's, which knows the request id, the caller and the error code.
    """
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"sanyi": {"()": JsonFormatter, "console": settings.log_format == "console"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "sanyi",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": settings.log_level.upper()},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": False},
            **{name: {"level": quiet} for name, quiet in QUIET_LOGGERS.items()},
        },
    }
