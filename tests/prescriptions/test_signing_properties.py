"""Property tests of the signature (docs/domain.md section 9: a tampered prescription never
circulates): any one-byte change to any covered value breaks verification, while key order,
whitespace, string escapes and the members the signature does not cover never matter."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import pytest
from hypothesis import assume, given, reject, settings
from hypothesis import strategies as st

from prescriptions.signing import (
    COVERED_DIAGNOSIS_FIELDS,
    COVERED_FIELDS,
    COVERED_LINE_FIELDS,
    SignatureRejected,
    generate_key_pair,
    sign,
    verify,
)

SETTINGS = settings(max_examples=300, deadline=None)
PRIVATE_KEY, PUBLIC_KEY = generate_key_pair()

# Any Unicode text but lone surrogates (not UTF-8, refused as unsignable), controls included:
# RFC 8785 escapes them, and they must survive as well as CJK does.
TEXT = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=12)
SCALARS = st.one_of(TEXT, st.integers(min_value=0, max_value=10**6))
NESTED = {"diseinfo": COVERED_DIAGNOSIS_FIELDS, "rxdrugdetail": COVERED_LINE_FIELDS}
UNCOVERED = st.dictionaries(
    st.sampled_from(["hi_rxno", "rx_trace_code", "rx_stas_codg", "signature", "pric", "note"]),
    st.one_of(SCALARS, st.floats(allow_nan=False), st.none()),
    max_size=3,
)


def _member(fields: frozenset[str]) -> st.SearchStrategy[dict[str, Any]]:
    """A nested member with some of its covered fields and maybe a few uncovered ones."""
    return st.builds(
        lambda covered, extra: {**extra, **covered},
        st.fixed_dictionaries({}, optional={name: SCALARS for name in sorted(fields)}),
        UNCOVERED,
    )


def _top_level() -> st.SearchStrategy[dict[str, Any]]:
    optional: dict[str, st.SearchStrategy[Any]] = {
        name: SCALARS for name in sorted(COVERED_FIELDS - NESTED.keys() - {"hosp_rxno"})
    }
    for name, fields in NESTED.items():
        optional[name] = st.lists(_member(fields), min_size=1, max_size=3)
    return st.builds(
        lambda covered, extra: {**extra, **covered},
        st.fixed_dictionaries({"hosp_rxno": TEXT}, optional=optional),
        UNCOVERED,
    )


DOCUMENTS = _top_level()


def _covered_leaves(doc: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Paths of every covered scalar in ``doc``."""
    paths: list[tuple[Any, ...]] = []
    for name in sorted(COVERED_FIELDS & doc.keys()):
        if name in NESTED:
            for index, item in enumerate(doc[name]):
                paths += [(name, index, key) for key in sorted(NESTED[name] & item.keys())]
        else:
            paths.append((name,))
    return paths


def _one_byte_changed(value: Any, position: int, byte: int) -> Any:
    """``value`` with one byte of its text (UTF-8, or decimal digits for an integer) replaced;
    an integer's digit is replaced by another digit, so it stays an integer."""
    if isinstance(value, int):
        digits = bytearray(str(value).encode())
        at = position % len(digits)
        digits[at] = ord("0") + (digits[at] - ord("0") + 1 + byte % 9) % 10
        return int(digits)
    raw = bytearray(value.encode())
    at = position % len(raw)
    assume(raw[at] != byte)
    raw[at] = byte
    try:
        return raw.decode()
    except UnicodeDecodeError:
        reject()  # not text any more: no JSON document can carry it


def _set(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    target: Any = doc
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value


def _get(doc: dict[str, Any], path: tuple[Any, ...]) -> Any:
    target: Any = doc
    for step in path:
        target = target[step]
    return target


@SETTINGS
@given(
    doc=DOCUMENTS,
    pick=st.integers(min_value=0),
    position=st.integers(min_value=0),
    byte=st.integers(min_value=0, max_value=255),
)
def test_any_one_byte_change_to_a_covered_value_breaks_the_signature(
    doc: dict[str, Any], pick: int, position: int, byte: int
) -> None:
    signature = sign(doc, PRIVATE_KEY)
    leaves = _covered_leaves(doc)
    path = leaves[pick % len(leaves)]
    tampered = copy.deepcopy(doc)
    _set(tampered, path, _one_byte_changed(_get(doc, path), position, byte))
    with pytest.raises(SignatureRejected):
        verify(tampered, signature, PUBLIC_KEY, "ed25519")


def _shuffled(value: Any, rng: random.Random) -> Any:
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {key: _shuffled(item, rng) for key, item in items}
    if isinstance(value, list):
        return [_shuffled(item, rng) for item in value]
    return value


@SETTINGS
@given(
    doc=DOCUMENTS,
    rng=st.randoms(use_true_random=False),
    indent=st.sampled_from([None, 0, 1, 2, 4, "\t"]),
    separators=st.sampled_from([(",", ":"), (", ", ": "), (" ,", " : ")]),
    ensure_ascii=st.booleans(),
)
def test_key_order_whitespace_and_escapes_do_not_matter(
    doc: dict[str, Any],
    rng: random.Random,
    indent: int | str | None,
    separators: tuple[str, str],
    ensure_ascii: bool,
) -> None:
    signature = sign(doc, PRIVATE_KEY)
    text = json.dumps(
        _shuffled(doc, rng), indent=indent, separators=separators, ensure_ascii=ensure_ascii
    )
    verify(json.loads(text), signature, PUBLIC_KEY, "ed25519")


@SETTINGS
@given(doc=DOCUMENTS, extra=UNCOVERED, line_extra=UNCOVERED)
def test_uncovered_members_never_matter(
    doc: dict[str, Any], extra: dict[str, Any], line_extra: dict[str, Any]
) -> None:
    signature = sign(doc, PRIVATE_KEY)
    stored = copy.deepcopy(doc)
    stored.update(extra)
    for item in stored.get("rxdrugdetail", []):
        item.update(line_extra)
    verify(stored, signature, PUBLIC_KEY, "ed25519")
