"""CNY money, exact to the fen.

The database stores integer fen; the domain works with ``moneyed.Money``. Every rounding the
settlement rules name (docs/domain.md section 3 and 5: ``pric × cnt``, ``capped × selfpay_prop``,
``× pool_prop``) is half-up to the fen and goes through :func:`round_fen`. Floats are refused at
every entry point: a float cannot represent 0.1 exactly, and a money path that accepts one will
sooner or later be off by a fen.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from moneyed import CNY, Money

__all__ = [
    "CNY",
    "FEN",
    "ZERO",
    "Money",
    "amount_text",
    "cny",
    "from_fen",
    "min_money",
    "round_fen",
    "scale",
    "to_fen",
    "yuan",
]

FEN = Decimal("0.01")
ZERO = Money(0, CNY)


def _decimal(value: Decimal | int | str) -> Decimal:
    if isinstance(value, float | bool):
        raise TypeError(f"money values must not be {type(value).__name__}: {value!r}")
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int | str):
        return Decimal(value)
    raise TypeError(f"unsupported money value {value!r}")


def round_fen(amount: Decimal | int | str) -> Decimal:
    """Round an amount in yuan half-up to the fen (0.005 → 0.01)."""
    return _decimal(amount).quantize(FEN, rounding=ROUND_HALF_UP)


def cny(amount: Decimal | int | str) -> Money:
    """A CNY amount, exact to the fen; more precision than a fen is refused, not rounded.

    Use :func:`scale` where a rule says to round.
    """
    value = _decimal(amount)
    if value != value.quantize(FEN):
        raise ValueError(f"{value} has more precision than a fen; round it explicitly")
    return Money(value.quantize(FEN), CNY)


def yuan(fen: int) -> Decimal:
    """The amount in yuan, two decimals, of an integer number of fen as stored in the database:
    what the wire carries, without the ``Money`` object the domain computes with."""
    if isinstance(fen, bool) or not isinstance(fen, int):
        raise TypeError(f"fen must be an int, not {type(fen).__name__}")
    return Decimal(fen).scaleb(-2)


def amount_text(amount: Money) -> str:
    """An amount as the wire writes it: a string with exactly two decimals ("0.00", "211.40"),
    however the amount was made (``ZERO`` has no decimals of its own)."""
    return f"{amount.amount.quantize(FEN) + 0:.2f}"


def from_fen(fen: int) -> Money:
    """Money from an integer number of fen, as stored in the database."""
    return Money(yuan(fen), CNY)


def to_fen(money: Money) -> int:
    """Integer fen for the database; refuses sub-fen amounts instead of silently truncating."""
    if money.currency != CNY:
        raise ValueError(f"only CNY is supported, got {money.currency}")
    fen = money.amount * 100
    if fen != fen.to_integral_value():
        raise ValueError(f"{money.amount} is not a whole number of fen")
    return int(fen)


def scale(amount: Money | Decimal | int | str, factor: Decimal | int | str) -> Money:
    """``amount × factor`` rounded half-up to the fen: the one rounding point of every rule.

    ``amount`` may be a unit price with four decimals (drug prices), so it is accepted as a plain
    Decimal as well as Money.
    """
    base = amount.amount if isinstance(amount, Money) else _decimal(amount)
    return Money(round_fen(base * _decimal(factor)), CNY)


def min_money(*amounts: Money) -> Money:
    """The smallest of several CNY amounts."""
    return min(amounts, key=lambda m: m.amount)
