"""A HIS client of the national envelope, as public HIS code builds its messages: every member
a string, optional ones sent as "", local times without an offset."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tests.support.factories.world import World


@dataclass
class His:
    world: World
    hospital: int = 0

    @property
    def fixmedins_code(self) -> str:
        return self.world.hospital(self.hospital)[0]

    def message(
        self, infno: str, input: dict[str, Any], *, msgid: str | None = None
    ) -> dict[str, Any]:
        now = datetime.now()
        return {
            "infno": infno,
            "msgid": msgid or self.msgid(),
            "mdtrtarea_admvs": self.world.admdvs,
            "insuplc_admdvs": self.world.admdvs,
            "recer_sys_code": "FSI_LOCAL",
            "dev_no": "",
            "dev_safe_info": "",
            "cainfo": "",
            "signtype": "",
            "infver": "V1.0",
            "opter_type": "1",
            "opter": "0001",
            "opter_name": "收费员",
            "inf_time": now.strftime("%Y-%m-%d %H:%M:%S"),
            "fixmedins_code": self.fixmedins_code,
            "fixmedins_name": "测试医院",
            "sign_no": "",
            "input": input,
        }

    def msgid(self) -> str:
        """Institution code, yyyyMMddHHmmss and a sequence, as the national platform asks."""
        return f"{self.fixmedins_code}{datetime.now():%Y%m%d%H%M%S}{secrets.randbelow(10**6):06d}"

    async def post(self, message: dict[str, Any], *, path: str | None = None) -> dict[str, Any]:
        response = await self.world.client.post(
            path or f"/nhsa/{message['infno']}",
            json=message,
            headers=self.world.hospital(self.hospital)[1],
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def call(self, infno: str, input: dict[str, Any], **options: Any) -> dict[str, Any]:
        """The ``output`` of a transaction that must succeed."""
        answer = await self.post(self.message(infno, input, **options))
        assert answer["infcode"] == 0, answer
        return dict(answer["output"] or {})

    async def refused(self, infno: str, input: dict[str, Any], **options: Any) -> dict[str, Any]:
        answer = await self.post(self.message(infno, input, **options))
        assert answer["infcode"] == -1, answer
        assert answer["output"] is None
        return answer


def registration(psn_no: str, certno: str, dr_code: str, *, begntime: str) -> dict[str, Any]:
    """2201 as a HIS sends it, with 2203's medical category and diagnoses."""
    return {
        "data": {
            "psn_no": psn_no,
            "insutype": "310",
            "begntime": begntime,
            "mdtrt_cert_type": "02",
            "mdtrt_cert_no": certno,
            "ipt_otp_no": "MZ20260302001",
            "atddr_no": dr_code,
            "dr_name": "张医生",
            "dept_code": "A03",
            "dept_name": "内科",
            "caty": "A03",
            "psn_cert_type": "01",
            "certno": certno,
            "psn_type": "",
            "psn_name": "测试",
            "med_type": "11",
        },
        "diseinfo": [
            {
                "diag_type": "1",
                "diag_srt_no": "1",
                "diag_code": "I10.x00",
                "diag_name": "原发性高血压",
                "diag_dept": "内科",
                "dise_dor_no": dr_code,
                "dise_dor_name": "张医生",
                "diag_time": begntime,
                "vali_flag": "1",
            }
        ],
    }


def fee_line(
    mdtrt_id: str, psn_no: str, sn: str, code: str, cnt: str, pric: str, sumamt: str
) -> dict[str, Any]:
    return {
        "feedetl_sn": sn,
        "init_feedetl_sn": "",
        "mdtrt_id": mdtrt_id,
        "drord_no": "",
        "psn_no": psn_no,
        "med_type": "11",
        "fee_ocur_time": "2026-03-02 09:40:00",
        "med_list_codg": code,
        "medins_list_codg": f"HIS-{code}",
        "det_item_fee_sumamt": sumamt,
        "cnt": cnt,
        "pric": pric,
        "sin_dos_dscr": "",
        "used_frqu_dscr": "",
        "prd_days": "",
        "medc_way_dscr": "",
        "bilg_dept_codg": "A03",
        "bilg_dept_name": "内科",
        "bilg_dr_codg": "D001",
        "bilg_dr_name": "张医生",
        "hosp_appr_flag": "",
        "rx_circ_flag": "0",
        "chrg_bchno": "B0001",
        "dise_codg": "",
        "rxno": "",
    }


def settle_data(
    mdtrt_id: str, psn_no: str, certno: str, medfee_sumamt: str, **extra: str
) -> dict[str, Any]:
    """2206/2207 as a HIS sends it."""
    return {
        "data": {
            "psn_no": psn_no,
            "mdtrt_cert_type": "02",
            "mdtrt_cert_no": certno,
            "med_type": "11",
            "medfee_sumamt": medfee_sumamt,
            "psn_setlway": "01",
            "mdtrt_id": mdtrt_id,
            "chrg_bchno": "B0001",
            "insutype": "310",
            "acct_used_flag": "1",
            "invono": "",
        }
        | extra
    }
