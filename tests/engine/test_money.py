from decimal import Decimal

import pytest

from engine.money import cny, from_fen, round_fen, scale, to_fen, yuan


def test_scale_rounds_half_up_to_the_fen() -> None:
    assert scale(Decimal("0.0325"), 90) == cny("2.93")  # 2.925 → 2.93
    assert scale(cny("128.40"), Decimal("0.10")) == cny("12.84")
    assert scale(cny("0.05"), Decimal("0.5")) == cny("0.03")  # 0.025 → 0.03, not banker's 0.02


def test_fen_round_trip() -> None:
    assert to_fen(cny("211.40")) == 21140
    assert from_fen(21140) == cny("211.40")
    assert from_fen(0) == cny("0")


@pytest.mark.parametrize(
    ("fen", "text"), [(21140, "211.40"), (0, "0.00"), (5, "0.05"), (-7, "-0.07")]
)
def test_yuan_of_fen_has_two_decimals_as_the_wire_writes_them(fen: int, text: str) -> None:
    assert str(yuan(fen)) == text
    assert yuan(fen) == from_fen(fen).amount


@pytest.mark.parametrize("bad", [0.1, 1.0, True])
def test_floats_are_refused(bad: object) -> None:
    with pytest.raises(TypeError):
        cny(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        scale(cny("1.00"), bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        from_fen(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        yuan(bad)  # type: ignore[arg-type]


def test_sub_fen_amounts_are_refused_not_truncated() -> None:
    with pytest.raises(ValueError):
        cny("1.005")
    assert round_fen("1.005") == Decimal("1.01")
