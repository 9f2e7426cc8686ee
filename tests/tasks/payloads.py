"""Valid form payloads for the task kinds used in task tests."""

from __future__ import annotations

LOAN_CARD_CHECK = {
    "retrieved_on": "2025-03-03",
    "other_bank_credit_balance_change": "0",
    "external_guarantee_balance_change": "0",
    "other_bank_classifications": [],
    "other_bank_delinquencies": [],
    "concentrated_maturities": [],
    "conclusion": "normal",
}


def customer_visit(inspectors: list[str], photo: dict) -> dict:
    return {
        "visited_on": "2025-03-03",
        "inspectors": inspectors,
        "places_visited": ["borrower_office", "production_site"],
        "item_1_operations": "经营正常，营收同比增长5%",
        "item_2_financing_investment": "无新增融资",
        "item_3_counterparties": "主要客户稳定",
        "item_4_market_outlook": "行业景气度平稳",
        "item_7_cooperation_problems": "无",
        "site_observations": "厂区开工正常，库存合理",
        "photos": [photo],
        "risk_found": False,
        "warned_superiors": False,
    }


EXTENSION_APPROVE = {
    "decision": "approve",
    "opinion": "同意展期六个月",
    "guarantor_consent_filed": True,
    "approved_term_months": 6,
}

CLASSIFICATION_APPROVE = {
    "decision": "approve",
    "confirmed_class": "special_mention",
    "opinion": "逾期超过7天，认定为关注类",
}
