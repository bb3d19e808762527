"""Typed builders for prescription documents and rule inputs, valid unless told otherwise."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta
from typing import Any

from engine.clock import CST
from prescriptions.rules import DrugFacts, PrescriberFacts, RxDocument, RxLine

PRSC_TIME = datetime(2026, 3, 2, 9, 30, tzinfo=CST)
HOSPITAL = "H23010000001"


def drug_line_doc(**overrides: Any) -> dict[str, Any]:
    """One ``rxdrugdetail`` member, every covered field present (JSON types of
    docs/prescriptions.md)."""
    line: dict[str, Any] = {
        "med_list_codg": "XC08CAA001A001010100001",
        "drug_genname": "氨氯地平片",
        "drug_spec": "5mg*28片",
        "drug_dosform": "片剂",
        "drug_cnt": "1",
        "drug_cnt_unit": "盒",
        "sin_doscnt": "5",
        "sin_dosunt": "mg",
        "used_frqu_codg": "qd",
        "used_frqu_name": "每日一次",
        "medc_way_codg": "1",
        "medc_way_dscr": "口服",
        "medc_days": 7,
    }
    line.update(overrides)
    return line


def rx_doc(**overrides: Any) -> dict[str, Any]:
    """A prescription document as a hospital uploads it, every covered field present, plus the
    engine-assigned members a stored prescription also has."""
    doc: dict[str, Any] = {
        "hosp_rxno": "RX20260302001",
        "fixmedins_code": HOSPITAL,
        "mdtrt_id": "MD20260302000123",
        "psn_no": "23010000000000000001",
        "dr_code": "D230100000001",
        "rx_type_code": "1",
        "prsc_time": "2026-03-02T09:30:00+08:00",
        "vali_days": 3,
        "vali_end_time": "2026-03-04T23:59:59+08:00",
        "long_rx_flag": "1",
        "rept_flag": "1",
        "max_rept_cnt": 3,
        "min_inrv_days": 28,
        "emer_flag": "0",
        "chro_dise_flag": "1",
        "stab_cond_flag": "1",
        "extd_days_rsn": "高血压病情稳定，长期用药",
        "diseinfo": [
            {
                "diag_type": "1",
                "maindiag_flag": "1",
                "diag_srt_no": 1,
                "diag_code": "I10.x00",
                "diag_name": "原发性高血压",
            }
        ],
        "rxdrugdetail": [
            drug_line_doc(medc_days=84, drug_cnt="3"),
            drug_line_doc(
                med_list_codg="XA10BAD001A001010100001",
                drug_genname="二甲双胍片",
                drug_spec="0.5g*48片",
                drug_cnt="3.5",
                sin_doscnt="0.5",
                sin_dosunt="g",
                used_frqu_codg="tid",
                used_frqu_name="每日三次",
                medc_days=84,
            ),
        ],
        # engine-assigned, not covered
        "hi_rxno": "HI0000000001",
        "rx_trace_code": "TRACE-abc",
        "rx_stas_codg": "1",
    }
    doc.update(overrides)
    return doc


def drug(**overrides: Any) -> DrugFacts:
    return DrugFacts(**overrides)


def line(
    medc_days: int = 7, *, med_list_codg: str = "X001", facts: DrugFacts | None = None
) -> RxLine:
    return RxLine(med_list_codg=med_list_codg, medc_days=medc_days, drug=facts or DrugFacts())


def rx(*lines: RxLine, **overrides: Any) -> RxDocument:
    """An ordinary 7-day, one-day-valid prescription issued at :data:`PRSC_TIME`."""
    base = RxDocument(
        prsc_time=PRSC_TIME,
        vali_days=1,
        vali_end_time=PRSC_TIME.replace(hour=23, minute=59, second=59),
        rx_type_code="1",
        rxdrugdetail=lines or (line(),),
    )
    return dataclasses.replace(base, **overrides)


def valid_for(days: int, **overrides: Any) -> RxDocument:
    """A prescription valid for ``days`` calendar days, ``vali_end_time`` on the last one."""
    end = (PRSC_TIME + timedelta(days=days - 1)).replace(hour=23, minute=59, second=59)
    return rx(**{"vali_days": days, "vali_end_time": end, **overrides})


def prescriber(**overrides: Any) -> PrescriberFacts:
    """A licensed doctor of :data:`HOSPITAL` with internet practice since 2015."""
    base = PrescriberFacts(
        dr_code="D230100000001",
        licensed=True,
        fixmedins_code=HOSPITAL,
        internet_practice=True,
        indep_prac_start=date(2015, 7, 1),
    )
    return dataclasses.replace(base, **overrides)
