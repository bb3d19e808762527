"""The claims inputs that need data or relations to judge: each bad one is a 4xx with a stable
code and field, and changes nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from claims.funding.models import Bundle, BundleMember, DipScheme, GlobalBudget
from claims.settlement import repository
from claims.settlement.models import (
    BasicPolicyRow,
    BenefitAccumulator,
    FeeLine,
    Person,
    PersonYearAccumulator,
    Visit,
)
from claims.settlement.service import presettle_token
from tests.claims.funding.test_dip import scheme_body
from tests.support.factories.funding import (
    OTHER_REGION,
    REGION,
    budget_body,
    insured,
    insurer_headers,
    provider,
)
from tests.support.factories.settlement import settlements_of
from tests.support.factories.world import CLASS_A_ITEM, DRUG_X, World, build_world, make_certno

#: The wire types refuse some values before any rule of the engine reads them.
EDGE = (422, "validation_error")


@pytest.fixture
async def world(client: httpx.AsyncClient, session: AsyncSession) -> World:
    return await build_world(client, session)


async def _fee_lines(session: AsyncSession, mdtrt_id: str) -> int:
    query = select(func.count()).select_from(FeeLine).where(FeeLine.mdtrt_id == mdtrt_id)
    return int(await session.scalar(query) or 0)


def _refusal(response: httpx.Response) -> tuple[int, str, str | None]:
    body = response.json()
    return response.status_code, body["code"], body["field"]


# --- the pre-settlement token --------------------------------------------------------------------


async def _presettled_visit(world: World) -> tuple[str, str]:
    """A visit with a fee line, and the token of its pre-settlement."""
    psn_no, certno = await world.enrol()
    visit = await world.visit(psn_no, certno)
    await world.fees(visit["mdtrt_id"], [(CLASS_A_ITEM, "1", "100.00")])
    _, headers = world.hospital()
    pre = await world.client.post(
        f"/v1/visits/{visit['mdtrt_id']}/pre-settlement", json={}, headers=headers
    )
    assert pre.status_code == 200, pre.text
    return visit["mdtrt_id"], pre.json()["presettle_token"]


@pytest.mark.parametrize(
    "forged",
    ["0" * 64, "not-a-token", "", "F" * 64],
    ids=["zeros", "garbage", "empty", "upper-hex"],
)
async def test_a_token_the_engine_did_not_issue_is_refused(
    world: World, session: AsyncSession, forged: str
) -> None:
    mdtrt_id, _ = await _presettled_visit(world)

    refused = await world.settle(mdtrt_id, presettle_token=forged)

    # An empty token is not text at all: the wire types refuse it before the engine looks.
    status, code = EDGE if forged == "" else (400, "unknown_presettle_token")
    assert _refusal(refused) == (status, code, "presettle_token")
    assert await settlements_of(session, mdtrt_id) == 0


async def test_a_token_issued_for_another_visit_is_refused(
    world: World, session: AsyncSession
) -> None:
    first, token = await _presettled_visit(world)
    second, _ = await _presettled_visit(world)

    refused = await world.settle(second, presettle_token=token)

    assert _refusal(refused) == (400, "unknown_presettle_token", "presettle_token")
    assert await settlements_of(session, second) == 0
    settled = await world.settle(first, presettle_token=token)
    assert settled.status_code == 201, settled.text
    assert settled.json()["accumulators_changed"] is False


async def test_a_tampered_state_digest_is_refused(world: World, session: AsyncSession) -> None:
    mdtrt_id, token = await _presettled_visit(world)
    flipped = ("1" if token[0] == "0" else "0") + token[1:]

    refused = await world.settle(mdtrt_id, presettle_token=flipped)

    assert _refusal(refused) == (400, "unknown_presettle_token", "presettle_token")
    assert await settlements_of(session, mdtrt_id) == 0


@given(st.text(max_size=80))
def test_only_an_issued_token_reads_back(forged: str) -> None:
    digest = presettle_token.state_digest("state")
    token = presettle_token.issue("M1", digest)
    assert presettle_token.issued_digest("M1", token) == digest
    with pytest.raises(presettle_token.UnknownPresettleToken):
        presettle_token.issued_digest("M2", token)
    if forged != token:
        with pytest.raises(presettle_token.UnknownPresettleToken):
            presettle_token.issued_digest("M1", forged)


# --- opening balances ----------------------------------------------------------------------------


async def _opening(world: World, psn_no: str, **body: object) -> httpx.Response:
    return await world.client.post(
        f"/v1/persons/{psn_no}/opening-balances",
        json={"year": 2026} | body,
        headers=world.insurer,
    )


def _employee_11(**figures: str) -> dict[str, str]:
    return {"insutype": "310", "med_type": "11"} | figures


@pytest.mark.parametrize(
    ("person", "body", "refusal"),
    [
        (
            {},
            {"categories": [_employee_11(hifp_paid="99999.00")]},
            ("opening_above_cap", "categories.0.hifp_paid"),
        ),
        (
            {},
            {"categories": [_employee_11(deductible_used="200.01")]},
            ("opening_above_cap", "categories.0.deductible_used"),
        ),
        (
            {},
            {"categories": [_employee_11(), _employee_11(hifp_paid="1.00")]},
            ("duplicate_category", "categories.1"),
        ),
        (
            {},
            {"year": 2025, "categories": [_employee_11()]},
            ("opening_without_policy", "categories.0"),
        ),
        (
            {},
            {"categories": [{"insutype": "310", "med_type": "41", "hifp_paid": "1.00"}]},
            ("shared_accumulator", "categories.0"),
        ),
        ({}, {"critical_paid": "0.01"}, ("opening_without_policy", "critical_paid")),
        (
            {"insutype": "390"},
            {"critical_paid": "300000.01"},
            ("opening_above_cap", "critical_paid"),
        ),
        ({}, {"assistance_paid": "0.01"}, ("opening_without_policy", "assistance_paid")),
        (
            {"insutype": "390", "asst_type": "dibao"},
            {"assistance_paid": "20000.01"},
            ("opening_above_cap", "assistance_paid"),
        ),
    ],
    ids=[
        "pooled-fund-above-annual-cap",
        "deductible-above-deductible",
        "category-twice",
        "year-without-policy",
        "pharmacy-counted-in-outpatient",
        "critical-without-policy",
        "critical-above-cap",
        "assistance-without-category",
        "assistance-above-cap",
    ],
)
async def test_opening_figures_beyond_the_policy_are_refused_and_change_nothing(
    world: World,
    session: AsyncSession,
    person: dict[str, str],
    body: dict[str, object],
    refusal: tuple[str, str],
) -> None:
    psn_no, _ = await world.enrol(**person)
    before = (await world.client.get(f"/v1/persons/{psn_no}", headers=world.insurer)).json()

    refused = await _opening(world, psn_no, acct_balc="50.00", **body)

    assert _refusal(refused) == (400, *refusal)
    assert (
        await session.scalar(
            select(func.count())
            .select_from(BenefitAccumulator)
            .where(BenefitAccumulator.psn_no == psn_no)
        )
        == 0
    )
    after = (await world.client.get(f"/v1/persons/{psn_no}", headers=world.insurer)).json()
    assert after == before


async def test_opening_figures_at_the_caps_are_accepted(
    world: World, session: AsyncSession
) -> None:
    psn_no, _ = await world.enrol(insutype="390", asst_type="tekun")

    accepted = await _opening(
        world,
        psn_no,
        categories=[{"insutype": "390", "med_type": "14", "hifp_paid": "8000.00"}],
        critical_paid="300000.00",
        assistance_paid="30000.00",
    )

    assert accepted.status_code == 200, accepted.text
    row = await session.get_one(BenefitAccumulator, (psn_no, 2026, "390-14"))
    assert row.hifp_paid == 800_000
    year = await session.get_one(PersonYearAccumulator, (psn_no, 2026))
    assert (year.critical_paid, year.assistance_paid) == (30_000_000, 3_000_000)


# --- enrolment -----------------------------------------------------------------------------------


@pytest.mark.parametrize("asst_type", ["dibo", "", "DIBAO"])
async def test_an_assistance_category_the_region_has_no_policy_for_is_refused(
    world: World, session: AsyncSession, asst_type: str
) -> None:
    body = {
        "psn_no": "PASSTTYPO",
        "psn_name": "测试",
        "certno": make_certno(),
        "admdvs": world.admdvs,
        "insutype": "390",
        "asst_type": asst_type,
    }
    refused = await world.client.post("/v1/persons", json=body, headers=world.insurer)

    status, code = EDGE if asst_type == "" else (400, "unknown_asst_type")
    assert _refusal(refused) == (status, code, "asst_type")
    assert await session.get(Person, "PASSTTYPO") is None
    accepted = await world.client.post(
        "/v1/persons", json=body | {"asst_type": "dibao"}, headers=world.insurer
    )
    assert accepted.status_code == 201, accepted.text


# --- times ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "begntime",
    [datetime(2999, 1, 1, tzinfo=UTC), datetime.now(UTC) + timedelta(hours=1)],
    ids=["year-2999", "in-an-hour"],
)
async def test_a_visit_that_has_not_begun_is_refused(
    world: World, session: AsyncSession, begntime: datetime
) -> None:
    psn_no, certno = await world.enrol()

    # Past the wire types' window (a day ahead) the edge refuses; inside it, the visit's rule.
    status, code = EDGE if begntime.year == 2999 else (400, "time_in_future")
    refused = await world.visit(psn_no, certno, begntime=begntime.isoformat(), expect=status)

    assert (refused["code"], refused["field"]) == (code, "begntime")
    visits = select(func.count()).select_from(Visit).where(Visit.psn_no == psn_no)
    assert await session.scalar(visits) == 0


@pytest.mark.parametrize(
    ("fee_ocur_time", "code"),
    [
        ("1900-01-01T00:00:00+08:00", EDGE),
        ("2026-03-01T09:29:00+08:00", (400, "fee_before_visit")),
        ("2099-01-01T00:00:00+08:00", EDGE),
    ],
    ids=["year-1900", "a-day-and-a-minute-early", "year-2099"],
)
async def test_a_fee_line_outside_its_visit_is_refused(
    world: World, session: AsyncSession, fee_ocur_time: str, code: tuple[int, str]
) -> None:
    psn_no, certno = await world.enrol()
    visit = await world.visit(psn_no, certno)  # begins 2026-03-02 09:30 +08:00
    _, headers = world.hospital()
    line = {"feedetl_sn": "1", "med_list_codg": CLASS_A_ITEM, "cnt": "1", "pric": "10.00"}
    url = f"/v1/visits/{visit['mdtrt_id']}/fee-lines"

    refused = await world.client.post(
        url,
        json={"feedetail": [line, line | {"feedetl_sn": "2", "fee_ocur_time": fee_ocur_time}]},
        headers=headers,
    )

    assert _refusal(refused) == (*code, "feedetail.1.fee_ocur_time")
    assert await _fee_lines(session, visit["mdtrt_id"]) == 0
    early = line | {"fee_ocur_time": "2026-03-01T09:31:00+08:00"}
    accepted = await world.client.post(url, json={"feedetail": [early]}, headers=headers)
    assert accepted.status_code == 201, accepted.text


# --- fee-line prices -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "refusal"),
    [
        ({"med_list_codg": DRUG_X, "cnt": "1", "pric": "0"}, (*EDGE, "pric")),
        ({"med_list_codg": DRUG_X, "cnt": "1", "pric": "0.0000"}, (*EDGE, "pric")),
        (
            {"med_list_codg": CLASS_A_ITEM, "cnt": "10000", "pric": "1000.01"},
            (400, "line_amount_too_large", "cnt"),
        ),
    ],
    ids=["drug-priced-0", "drug-priced-0.0000", "line-above-ten-million"],
)
async def test_a_fee_line_without_a_real_price_is_refused(
    world: World, session: AsyncSession, line: dict[str, str], refusal: tuple[int, str, str]
) -> None:
    psn_no, certno = await world.enrol()
    visit = await world.visit(psn_no, certno)
    _, headers = world.hospital()

    refused = await world.client.post(
        f"/v1/visits/{visit['mdtrt_id']}/fee-lines",
        json={"feedetail": [{"feedetl_sn": "1"} | line]},
        headers=headers,
    )

    status, code, field = refusal
    assert _refusal(refused) == (status, code, f"feedetail.0.{field}")
    assert await _fee_lines(session, visit["mdtrt_id"]) == 0


# --- policy loads --------------------------------------------------------------------------------


def _basic(**fields: object) -> dict[str, object]:
    return {
        "insutype": "310",
        "med_type": "21",
        "valid_from": "2026-01-01",
        "fund_pay_type": "310100",
        "deductible": "800.00",
        "pool_bands": [{"upto": "10000.00", "ratio": "0.85"}, {"ratio": "0.90"}],
        "annual_cap": "300000.00",
    } | fields


async def _basic_rows(session: AsyncSession) -> list[tuple[date, date | None]]:
    query = select(BasicPolicyRow.valid_from, BasicPolicyRow.valid_to).where(
        BasicPolicyRow.med_type == "21"
    )
    return sorted((row.valid_from, row.valid_to) for row in (await session.execute(query)).all())


@pytest.mark.parametrize(
    ("load", "refusal"),
    [
        (
            {"basic": [_basic(valid_to="2025-12-31")]},
            (400, "invalid_validity", "basic.0.valid_to"),
        ),
        (
            {"basic": [_basic(valid_from="0001-01-01")]},
            (*EDGE, "basic.0.valid_from"),
        ),
        (
            {
                "assistance": [
                    {
                        "category": "x",
                        "valid_from": "2026-02-01",
                        "valid_to": "2026-01-01",
                        "ratio": "0.5",
                        "annual_cap": "1.00",
                    }
                ]
            },
            (400, "invalid_validity", "assistance.0.valid_to"),
        ),
        (
            {
                "basic": [
                    _basic(
                        retiree_pool_bands=[
                            {"upto": "5000.00", "ratio": "0.9"},
                            {"upto": "4000.00", "ratio": "0.95"},
                            {"ratio": "1"},
                        ]
                    )
                ]
            },
            (400, "invalid_bands", "basic.0.retiree_pool_bands"),
        ),
        (
            {"basic": [_basic(), _basic(deductible="900.00")]},
            (409, "overlapping_version", "basic.1.valid_from"),
        ),
        (
            {"basic": [_basic(valid_from="2026-07-01"), _basic()]},
            (409, "overlapping_version", "basic.1.valid_from"),
        ),
        (
            {"basic": [_basic(hosp_lv=3), _basic(hosp_lv=2, acc_category="310-99")]},
            (409, "split_accumulator", "basic.1.acc_category"),
        ),
        (
            {
                "basic": [_basic()] * 501,
                "assistance": [
                    {"category": "x", "valid_from": "2026-01-01", "ratio": "0.5", "annual_cap": "1"}
                ]
                * 500,
            },
            (400, "too_many_rows", None),
        ),
    ],
    ids=[
        "ends-before-it-starts",
        "year-1",
        "assistance-ends-before-it-starts",
        "retiree-bands-falling",
        "same-key-twice-in-one-load",
        "earlier-version-after-a-later-one",
        "levels-counting-in-two-accumulators",
        "more-rows-than-a-load-carries",
    ],
)
async def test_an_incoherent_policy_load_is_refused_and_stores_nothing(
    world: World,
    session: AsyncSession,
    load: dict[str, object],
    refusal: tuple[int, str, str | None],
) -> None:
    token = await repository.policy_token(session, world.admdvs)

    refused = await world.client.post(
        f"/v1/policies/{world.admdvs}", json=load, headers=world.insurer
    )

    assert _refusal(refused) == refusal
    assert await _basic_rows(session) == []
    assert await repository.policy_token(session, world.admdvs) == token


async def test_versions_of_one_key_in_one_load_follow_each_other(
    world: World, session: AsyncSession
) -> None:
    load = {"basic": [_basic(), _basic(valid_from="2026-07-01", deductible="900.00")]}

    accepted = await world.client.post(
        f"/v1/policies/{world.admdvs}", json=load, headers=world.insurer
    )

    assert accepted.status_code == 201, accepted.text
    assert await _basic_rows(session) == [
        (date(2026, 1, 1), date(2026, 6, 30)),
        (date(2026, 7, 1), None),
    ]


# --- funding set-up ------------------------------------------------------------------------------


async def _schemes(session: AsyncSession) -> int:
    counts = [
        await session.scalar(select(func.count()).select_from(model))
        for model in (GlobalBudget, DipScheme, Bundle)
    ]
    return sum(int(c or 0) for c in counts)


async def test_quality_scores_that_release_nothing_linearly_are_refused_by_every_scheme(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    headers = await insurer_headers(session)
    code = await provider(session)
    terms = {"quality_full_score": "60", "quality_zero_score": "60"}
    bundle = {
        "admdvs": REGION,
        "fixmedins_code": code,
        "year": 2025,
        "rate_per_member_month": "10.00",
        "withhold_ratio": "0.05",
        "surplus_retention_ratio": "0.50",
    }
    before = await _schemes(session)
    for url, body in (
        ("/v1/funding/budgets", budget_body(code, 2025, "1000.00", **terms)),
        ("/v1/funding/dip-schemes", scheme_body(**terms)),
        ("/v1/funding/bundles", bundle | terms),
    ):
        refused = await client.post(url, json=body, headers=headers)
        assert _refusal(refused) == (400, "invalid_quality_scores", "quality_zero_score"), url
    assert await _schemes(session) == before


@pytest.mark.parametrize(
    ("codes", "refusal"),
    [
        ({"icd_prefixes": [""]}, (*EDGE, "groups.0.icd_prefixes.0")),
        ({"icd_prefixes": ["I10", "I" + "1" * 20]}, (*EDGE, "groups.0.icd_prefixes.1")),
        ({"icd_codes": ["10.x00"]}, (400, "invalid_icd_code", "groups.0.icd_codes.0")),
        ({"icd_codes": ["I10 x00"]}, (*EDGE, "groups.0.icd_codes.0")),
    ],
    ids=["empty", "longer-than-the-column", "no-letter", "space"],
)
async def test_a_points_table_mapping_no_icd_code_is_refused(
    client: httpx.AsyncClient,
    session: AsyncSession,
    codes: dict[str, list[str]],
    refusal: tuple[int, str, str],
) -> None:
    headers = await insurer_headers(session)
    group = {"dise_grp_code": "A", "dise_grp_name": "a", "points": "1"} | codes
    before = await _schemes(session)

    refused = await client.post(
        "/v1/funding/dip-schemes", json=scheme_body(groups=[group]), headers=headers
    )

    assert _refusal(refused) == refusal
    assert await _schemes(session) == before


async def test_a_bundle_signs_only_people_insured_in_its_region(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    headers = await insurer_headers(session)
    code = await provider(session)
    created = await client.post(
        "/v1/funding/bundles",
        json={
            "admdvs": REGION,
            "fixmedins_code": code,
            "year": 2025,
            "rate_per_member_month": "10.00",
            "withhold_ratio": "0.05",
            "surplus_retention_ratio": "0.50",
            "quality_full_score": "90",
            "quality_zero_score": "60",
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    local, elsewhere = "PLOCAL0000001", "PELSEWHERE001"
    await insured(session, local)
    await insured(session, elsewhere, admdvs=OTHER_REGION)
    url = f"/v1/funding/bundles/{code}/2025/members"

    for stranger in ("PNOBODY000001", elsewhere):
        members = [{"psn_no": local, "sign_date": "2025-01-01"}]
        members.append({"psn_no": stranger, "sign_date": "2025-01-01"})
        refused = await client.post(url, json={"members": members}, headers=headers)
        assert _refusal(refused) == (400, "unknown_person", "members.1.psn_no")
        signed = select(func.count()).select_from(BundleMember)
        assert await session.scalar(signed.where(BundleMember.psn_no == local)) == 0


async def test_a_visit_whose_fees_would_pass_a_billion_is_refused(
    world: World, session: AsyncSession
) -> None:
    psn_no, certno = await world.enrol()
    visit = await world.visit(psn_no, certno)
    dearest: list[tuple[str, str, str | None]] = [(CLASS_A_ITEM, "1000", "10000.00")] * 100
    await world.fees(visit["mdtrt_id"], dearest)
    _, headers = world.hospital()
    line = {"feedetl_sn": "101", "med_list_codg": CLASS_A_ITEM, "cnt": "1", "pric": "0.01"}

    refused = await world.client.post(
        f"/v1/visits/{visit['mdtrt_id']}/fee-lines", json={"feedetail": [line]}, headers=headers
    )

    assert _refusal(refused) == (400, "visit_amount_too_large", "feedetail")
    assert await _fee_lines(session, visit["mdtrt_id"]) == 100
