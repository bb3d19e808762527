"""Region scope of cross-region work probed from every role of both regions (docs/cross-region.md):
hospital, pharmacy and insurer of A (230100, the insured place) and of B (510100, the treatment
place), a third region's insurer, and the operator. A filing, a settlement and an inter-region
claim are each read, listed and acted on by every key: the insurers of the two regions see what
the tables of docs/cross-region.md give them, an institution sees no filing or claim, another
region sees nothing it can tell from nothing, and the operator does no insurance work."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from engine.auth import Role
from engine.clock import CST
from tests.support.factories.clearing import backdate
from tests.support.factories.crossregion import INSURED, TREATMENT, CrossRegion, treatment_world
from tests.support.factories.orgs import make_key, make_org, unique_code
from tests.support.factories.world import build_world

THIRD = "230200"
OCTOBER = datetime(2026, 10, 15, 10, 0, tzinfo=CST)
#: Expected answers: a status and, for a refusal, its code.
Seen = tuple[int, str | None]
OK: Seen = (200, None)
FORBIDDEN: Seen = (403, "forbidden")


@dataclass
class Probe:
    client: httpx.AsyncClient
    keys: dict[str, dict[str, str]]
    psn_no: str
    filing: str
    setl_id: str
    claim_id: str

    async def seen(
        self,
        method: str,
        url: str,
        key: str,
        *,
        headers: dict[str, str] | None = None,
        **request: object,
    ) -> Seen:
        sent = self.keys[key] | {"Idempotency-Key": uuid.uuid4().hex} | (headers or {})
        response = await self.client.request(method, url, headers=sent, **request)  # type: ignore[arg-type]
        if response.status_code < 400:
            return response.status_code, None
        return response.status_code, response.json()["code"]

    async def matrix(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        **request: object,
    ) -> dict[str, Seen]:
        return {
            key: await self.seen(method, url, key, headers=headers, **request) for key in self.keys
        }


def expect(default: Seen, **by_key: Seen) -> dict[str, Seen]:
    keys = (
        "hospital_a", "pharmacy_a", "insurer_a", "hospital_b", "pharmacy_b", "insurer_b",
        "insurer_c", "operator",
    )  # fmt: skip
    return {key: by_key.get(key, default) for key in keys}


@pytest.fixture
async def probe(client: httpx.AsyncClient, session: AsyncSession) -> Probe:
    home = await build_world(client, session, admdvs=INSURED)
    xr = CrossRegion(home=home, away=await treatment_world(client, session))
    third = await build_world(client, session, admdvs=THIRD)
    psn_no, certno = await xr.insured("temporary_travel")
    visit = await xr.visit_with_lines(psn_no, certno)
    settled = await xr.away.settle(visit["mdtrt_id"])
    assert settled.status_code == 201, settled.text
    setl_id = settled.json()["setl_id"]
    await backdate(session, setl_id, OCTOBER)
    claim = await client.post(
        "/v1/cross-region/claims",
        json={"insuplc_admdvs": INSURED, "setlym": "202610"},
        headers=xr.away.insurer | {"Idempotency-Key": uuid.uuid4().hex},
    )
    assert claim.status_code == 201, claim.text
    filings = await client.get(
        "/v1/cross-region/filings", params={"psn_no": psn_no}, headers=home.insurer
    )

    async def pharmacy(admdvs: str) -> dict[str, str]:
        org = await make_org(
            session, role=Role.pharmacy, admdvs=admdvs, institution_code=unique_code("Y")
        )
        return await make_key(session, org)

    keys = {
        "hospital_a": home.hospital(0)[1],
        "pharmacy_a": await pharmacy(INSURED),
        "insurer_a": home.insurer,
        "hospital_b": xr.away.hospital(1)[1],  # not the hospital that settled
        "pharmacy_b": await pharmacy(TREATMENT),
        "insurer_b": xr.away.insurer,
        "insurer_c": third.insurer,
        "operator": await make_key(session, await make_org(session, role=Role.admin)),
    }
    await session.commit()
    return Probe(
        client=client,
        keys=keys,
        psn_no=psn_no,
        filing=filings.json()["items"][0]["trt_dcla_detl_sn"],
        setl_id=setl_id,
        claim_id=claim.json()["claim_id"],
    )


async def test_a_filing_is_the_two_insurers_and_only_the_insured_places_to_change(
    probe: Probe,
) -> None:
    url = f"/v1/cross-region/filings/{probe.filing}"
    unknown: Seen = (404, "unknown_filing")
    assert await probe.matrix("GET", url) == expect(
        FORBIDDEN, insurer_a=OK, insurer_b=OK, insurer_c=unknown
    )
    for action, body in (("end", {"enddate": "2026-11-30"}), ("revocation", None)):
        assert await probe.matrix("POST", f"{url}/{action}", json=body) == expect(
            FORBIDDEN, insurer_a=OK, insurer_b=unknown, insurer_c=unknown
        ), action
    listed = {}
    for key in ("insurer_a", "insurer_b", "insurer_c"):
        response = await probe.client.get(
            "/v1/cross-region/filings", params={"psn_no": probe.psn_no}, headers=probe.keys[key]
        )
        assert response.status_code == 200, response.text
        listed[key] = [f["trt_dcla_detl_sn"] for f in response.json()["items"]]
    assert listed == {"insurer_a": [probe.filing], "insurer_b": [probe.filing], "insurer_c": []}
    assert await probe.matrix("GET", "/v1/cross-region/filings") == expect(
        FORBIDDEN, insurer_a=OK, insurer_b=OK, insurer_c=OK
    )
    # Only the insured place files its people; anyone else's filing names nobody.
    filing = {
        "psn_no": probe.psn_no,
        "filing_type": "referral",
        "mdtrtarea_admvs": THIRD,
        "begndate": "2027-01-01",
    }
    assert await probe.matrix("POST", "/v1/cross-region/filings", json=filing) == expect(
        FORBIDDEN,
        insurer_a=(201, None),
        insurer_b=(404, "unknown_person"),
        insurer_c=(404, "unknown_person"),
    )


async def test_the_person_is_the_insured_places_alone(probe: Probe) -> None:
    unknown: Seen = (404, "unknown_person")
    assert await probe.matrix("GET", f"/v1/persons/{probe.psn_no}") == expect(
        FORBIDDEN, insurer_a=OK, insurer_b=unknown, insurer_c=unknown
    )


async def test_a_settlement_is_the_two_insurers(probe: Probe) -> None:
    unknown: Seen = (404, "unknown_settlement")
    assert await probe.matrix("GET", f"/v1/settlements/{probe.setl_id}") == expect(
        unknown, insurer_a=OK, insurer_b=OK, operator=FORBIDDEN
    )
    period = {"begin": "2026-01-01T00:00:00+08:00", "end": "2028-01-01T00:00:00+08:00"}
    for key in probe.keys:
        response = await probe.client.get("/v1/settlements", params=period, headers=probe.keys[key])
        if key == "operator":
            assert response.status_code == 403
            continue
        assert response.status_code == 200, (key, response.text)
        ids = {s["setl_id"] for s in response.json()["items"]}
        assert (probe.setl_id in ids) == (key in ("insurer_a", "insurer_b")), key


async def test_a_claim_is_the_two_insurers_and_reconciled_by_the_insured_place(
    probe: Probe,
) -> None:
    url = f"/v1/cross-region/claims/{probe.claim_id}"
    unknown: Seen = (404, "unknown_claim")
    for path in (url, f"{url}/lines.csv"):
        assert await probe.matrix("GET", path) == expect(
            FORBIDDEN, insurer_a=OK, insurer_b=OK, insurer_c=unknown
        ), path
    assert await probe.matrix(
        "POST", f"{url}/reconciliation", content=b"", headers={"Content-Type": "text/csv"}
    ) == expect(FORBIDDEN, insurer_a=OK, insurer_c=unknown)
    listed = {}
    for key in ("insurer_a", "insurer_b", "insurer_c"):
        response = await probe.client.get("/v1/cross-region/claims", headers=probe.keys[key])
        assert response.status_code == 200, response.text
        listed[key] = probe.claim_id in {c["claim_id"] for c in response.json()["items"]}
    assert listed == {"insurer_a": True, "insurer_b": True, "insurer_c": False}
    assert await probe.matrix("GET", "/v1/cross-region/claims") == expect(
        FORBIDDEN, insurer_a=OK, insurer_b=OK, insurer_c=OK
    )


async def test_a_claim_made_by_another_region_claims_nothing_of_b(probe: Probe) -> None:
    """A third region's insurer, and A's, may make claims of their own, but a claim lists only
    the settlements of the claimant's institutions: nothing of B's is harvested that way."""
    for key, insuplc in (("insurer_c", INSURED), ("insurer_a", TREATMENT)):
        response = await probe.client.post(
            "/v1/cross-region/claims",
            json={"insuplc_admdvs": insuplc, "setlym": "202610"},
            headers=probe.keys[key] | {"Idempotency-Key": uuid.uuid4().hex},
        )
        assert response.status_code == 201, response.text
        assert (response.json()["setl_cnt"], response.json()["fund_pay_sumamt"]) == (0, "0.00")
    own = await probe.seen(
        "POST", "/v1/cross-region/claims", "insurer_a", json={"insuplc_admdvs": INSURED,
                                                             "setlym": "202610"}
    )  # fmt: skip
    assert own == (400, "same_region")
