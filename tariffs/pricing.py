"""Pricing fee lines against the catalogue in force (docs/domain.md section 3), for claims and
prescriptions.

- A line is priced by the version of its item in force on the visit date that covers the visit's
  institution level, grade and doctor title (the most specific one, see
  :attr:`~tariffs.versions.CatalogueRow.specificity`).
- An item with a tariff price (a service item) is charged at the tariff; a claimed price above it
  is refused (``price_above_tariff``), one below it is what was charged.
- An item without one (a drug or consumable) is sold at the institution's own price, which the
  line must carry (``pric_required``); the catalogue gives the payment standard
  ``pric_uplmt_amt``, and the part above it is the patient's (section 5, step 2). That price is
  above zero (``pric_not_positive``): a drug handed out free is not a fee line.
- A non-medical item (a delivery fee, 医保发〔2020〕45号: not paid by insurance) takes the claimed
  price, or the catalogue's default price when none is claimed; it is always class 3.
- ``det_item_fee_sumamt = pric × cnt`` half-up to the fen (:func:`engine.money.scale`); unit prices
  carry up to four decimals (0.0325 × 90 = 2.93). A line comes to at most
  :data:`MAX_LINE_AMOUNT` (``line_amount_too_large``), so a visit's sums stay within the integer
  fen columns and the wire's amounts.

Every line of a call is resolved from one cache lookup (:mod:`tariffs.cache`): at most one query
for the catalogue version and one for codes not cached yet, however many lines there are.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from engine.errors import InvalidRequest
from engine.money import Money, scale
from tariffs import cache
from tariffs.codes import ItemKind
from tariffs.versions import CatalogueVersion

__all__ = [
    "DrugInfo",
    "LineRequest",
    "PricedItem",
    "PricingContext",
    "PricingError",
    "get_drug",
    "get_drugs",
    "price_lines",
]

_PRICE_QUANTUM = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class PricingContext:
    """The visit a line is priced for: region, date, institution level and grade, doctor title."""

    admdvs: str
    on: date
    hosp_lv: int
    grade: str | None
    dr_title: str | None


@dataclass(frozen=True, slots=True)
class LineRequest:
    """One fee line as claimed: the item, the quantity and (optionally) the charged unit price."""

    med_list_codg: str
    cnt: Decimal
    pric: Decimal | None


@dataclass(frozen=True, slots=True)
class PricedItem:
    """A priced fee line with everything settlement needs and the catalogue version it used."""

    med_list_codg: str
    name: str
    kind: str
    pric: Decimal
    cnt: Decimal
    det_item_fee_sumamt: Money
    chrgitm_lv: int
    pric_uplmt_amt: Decimal | None
    selfpay_prop: Decimal
    non_medical: bool
    controlled_class: str | None
    long_term_excluded: bool
    antimicrobial: bool
    version_id: str


@dataclass(frozen=True, slots=True)
class DrugInfo:
    """What prescription rules and dispensing need to know about a drug on a date."""

    med_list_codg: str
    name: str
    spec: str | None
    unit: str | None
    chrgitm_lv: int
    selfpay_prop: Decimal
    pric_uplmt_amt: Decimal | None
    controlled_class: str | None
    long_term_excluded: bool
    antimicrobial: bool
    rx_only: bool
    essential: bool
    version_id: str


#: The most one fee line may come to, in yuan: above the dearest single treatments on any
#: catalogue (a CAR-T infusion is about 1.2 million).
MAX_LINE_AMOUNT = Decimal("10000000.00")


class PricingError(InvalidRequest):
    """A line that cannot be priced; ``line`` is its index in the request, so a caller can name
    its own line (e.g. ``feedetl_sn``)."""

    def __init__(self, message: str, *, code: str, field: str, line: int) -> None:
        super().__init__(message, code=code, field=field)
        self.line = line


def _in_force(
    code: str, versions: Sequence[CatalogueVersion], on: date, line: int
) -> list[CatalogueVersion]:
    if not versions:
        raise PricingError(
            f"{code} is not in this region's catalogue",
            code="unknown_item",
            field="med_list_codg",
            line=line,
        )
    in_force = [v for v in versions if v.in_force(on)]
    if not in_force:
        raise PricingError(
            f"{code} has no version in force on {on.isoformat()}",
            code="item_not_in_force",
            field="med_list_codg",
            line=line,
        )
    return in_force


def _check_request(line: LineRequest, index: int) -> None:
    if not isinstance(line.cnt, Decimal) or not (
        line.pric is None or isinstance(line.pric, Decimal)
    ):
        raise TypeError("cnt and pric must be Decimal")
    if not line.cnt.is_finite() or line.cnt <= 0:
        raise PricingError("cnt must be positive", code="invalid_cnt", field="cnt", line=index)
    pric = line.pric
    if pric is not None and (
        not pric.is_finite() or pric < 0 or pric != pric.quantize(_PRICE_QUANTUM)
    ):
        raise PricingError(
            "pric must be a non-negative price with at most four decimals",
            code="invalid_pric",
            field="pric",
            line=index,
        )


def _charged_price(version: CatalogueVersion, line: LineRequest, index: int) -> Decimal:
    """The unit price charged on the line, by the rules in the module docstring."""
    if version.non_medical:
        charged = line.pric if line.pric is not None else version.pric
    elif version.pric is not None:
        if line.pric is not None and line.pric > version.pric:
            raise PricingError(
                f"{line.med_list_codg}: claimed price {line.pric} is above the tariff "
                f"{version.pric}",
                code="price_above_tariff",
                field="pric",
                line=index,
            )
        charged = version.pric if line.pric is None else line.pric
    else:
        charged = line.pric
        if charged is not None and charged <= 0:
            raise PricingError(
                f"{line.med_list_codg} is sold at the institution's own price: it is above zero",
                code="pric_not_positive",
                field="pric",
                line=index,
            )
    if charged is None:
        raise PricingError(
            f"{line.med_list_codg} is sold at the institution's own price: send pric",
            code="pric_required",
            field="pric",
            line=index,
        )
    return charged


def _price_line(
    ctx: PricingContext, index: int, line: LineRequest, versions: Sequence[CatalogueVersion]
) -> PricedItem:
    _check_request(line, index)
    covering = [
        v
        for v in _in_force(line.med_list_codg, versions, ctx.on, index)
        if v.covers(ctx.hosp_lv, ctx.grade, ctx.dr_title)
    ]
    if not covering:
        raise PricingError(
            f"{line.med_list_codg} has no tariff for level {ctx.hosp_lv}"
            f"{ctx.grade or ''}{f' ({ctx.dr_title})' if ctx.dr_title else ''} on "
            f"{ctx.on.isoformat()}",
            code="level_not_covered",
            field="med_list_codg",
            line=index,
        )
    version = max(covering, key=lambda v: v.specificity)
    pric = _charged_price(version, line, index)
    amount = scale(pric, line.cnt)
    if amount.amount > MAX_LINE_AMOUNT:
        raise PricingError(
            f"pric × cnt comes to {amount.amount}, above {MAX_LINE_AMOUNT}",
            code="line_amount_too_large",
            field="cnt",
            line=index,
        )
    return PricedItem(
        med_list_codg=line.med_list_codg,
        name=version.name,
        kind=version.kind,
        pric=pric,
        cnt=line.cnt,
        det_item_fee_sumamt=amount,
        chrgitm_lv=version.chrgitm_lv,
        pric_uplmt_amt=version.pric_uplmt_amt,
        selfpay_prop=version.selfpay_prop,
        non_medical=version.non_medical,
        controlled_class=version.controlled,
        long_term_excluded=version.long_term_excluded,
        antimicrobial=version.antimicrobial,
        version_id=version.version_id,
    )


async def price_lines(
    session: AsyncSession, ctx: PricingContext, lines: Sequence[LineRequest]
) -> list[PricedItem]:
    """Price every line for the visit, in order; the first line that cannot be priced raises
    :class:`PricingError` (400) with a stable code: ``unknown_item``, ``item_not_in_force``,
    ``level_not_covered``, ``price_above_tariff``, ``pric_required``, ``pric_not_positive``,
    ``line_amount_too_large``, ``invalid_cnt``, ``invalid_pric``; an unregistered region is
    ``unknown_region`` (404)."""
    if not lines:
        return []
    versions = await cache.versions_for(session, ctx.admdvs, {line.med_list_codg for line in lines})
    return [
        _price_line(ctx, index, line, versions[line.med_list_codg])
        for index, line in enumerate(lines)
    ]


async def get_drugs(
    session: AsyncSession, admdvs: str, codes: Collection[str], on: date
) -> Mapping[str, DrugInfo]:
    """The drug facts in force on a date for each code (one cache lookup for all of them).

    Raises :class:`PricingError` ``unknown_item`` / ``item_not_in_force``, or ``not_a_drug`` for a
    service item or consumable (``line`` is the code's position in sorted order).
    """
    ordered = sorted(set(codes))
    versions = await cache.versions_for(session, admdvs, ordered)
    drugs: dict[str, DrugInfo] = {}
    for index, code in enumerate(ordered):
        # A drug has one key per code (no level, grade or title), so one version is in force.
        version = _in_force(code, versions[code], on, index)[0]
        if version.kind != ItemKind.drug:
            raise PricingError(
                f"{code} is a {version.kind}, not a drug",
                code="not_a_drug",
                field="med_list_codg",
                line=index,
            )
        drugs[code] = DrugInfo(
            med_list_codg=code,
            name=version.name,
            spec=version.spec,
            unit=version.unit,
            chrgitm_lv=version.chrgitm_lv,
            selfpay_prop=version.selfpay_prop,
            pric_uplmt_amt=version.pric_uplmt_amt,
            controlled_class=version.controlled,
            long_term_excluded=version.long_term_excluded,
            antimicrobial=version.antimicrobial,
            rx_only=version.rx_only,
            essential=version.essential,
            version_id=version.version_id,
        )
    return drugs


async def get_drug(session: AsyncSession, admdvs: str, med_list_codg: str, on: date) -> DrugInfo:
    """One drug's facts in force on a date (see :func:`get_drugs`)."""
    return (await get_drugs(session, admdvs, [med_list_codg], on))[med_list_codg]
