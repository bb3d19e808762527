"""CSV uploads: the file is the request body (``text/csv``) or the ``file`` part of a
``multipart/form-data`` form, the form generated clients send because they cannot express a raw
``text/csv`` body. Either way the reader gets the same bytes; a form's file part is spooled by
Starlette (to disk past 1 MiB), so neither way holds a large file in memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from engine.errors import InvalidRequest

FILE_PART = "file"
_CHUNK_BYTES = 64 * 1024
_MULTIPART = "multipart/form-data"


def csv_file_body(description: str, example: str | None = None) -> dict[str, Any]:
    """The ``openapi_extra`` of an operation whose body is a CSV file, in either form."""
    raw: dict[str, Any] = {"schema": {"type": "string"}}
    if example is not None:
        raw["example"] = example
    form = {
        "schema": {
            "type": "object",
            "properties": {FILE_PART: {"type": "string", "format": "binary"}},
            "required": [FILE_PART],
        },
        "encoding": {FILE_PART: {"contentType": "text/csv"}},
    }
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"text/csv": raw, _MULTIPART: form},
        }
    }


def _is_form(request: Request) -> bool:
    return request.headers.get("content-type", "").lower().startswith(_MULTIPART)


async def _file_part(request: Request) -> UploadFile:
    """The form's one file part; a form without one, or not a well-formed form, is a 400
    ``invalid_upload`` naming the part."""
    try:
        form = await request.form(max_files=1, max_fields=0)
    except HTTPException as refused:  # Starlette's answer to a malformed or oversized form
        raise InvalidRequest(str(refused.detail), code="invalid_upload", field=FILE_PART) from None
    part = form.get(FILE_PART)
    if not isinstance(part, UploadFile):
        raise InvalidRequest(
            f"a multipart upload carries the CSV as its '{FILE_PART}' file part",
            code="invalid_upload",
            field=FILE_PART,
        )
    return part


async def csv_chunks(request: Request) -> AsyncIterator[bytes]:
    """The uploaded CSV chunk by chunk, read only when iterated (an idempotent retry that is
    answered from the first request never reads it)."""
    if not _is_form(request):
        async for chunk in request.stream():
            yield chunk
        return
    part = await _file_part(request)
    try:
        while chunk := await part.read(_CHUNK_BYTES):
            yield chunk
    finally:
        await part.close()


async def read_csv(request: Request) -> tuple[bytes, str]:
    """The whole uploaded CSV and the content type it was sent with (its charset parameter
    names the encoding)."""
    if not _is_form(request):
        return await request.body(), request.headers.get("content-type", "")
    part = await _file_part(request)
    try:
        return await part.read(), part.content_type or ""
    finally:
        await part.close()
