"""One complete, valid submission per task kind, as a clerk would file it (shared by the form
tests)."""

from __future__ import annotations

from typing import Any

PDF: dict[str, Any] = {
    "sha256": "ab" * 32,
    "filename": "发票.pdf",
    "content_type": "application/pdf",
    "size": 2048,
}
PHOTO: dict[str, Any] = {
    "sha256": "cd" * 32,
    "filename": "厂区.jpg",
    "content_type": "image/jpeg",
    "size": 512000,
}
SHEET: dict[str, Any] = {
    "sha256": "ef" * 32,
    "filename": "检查表.pdf",
    "content_type": "application/pdf",
    "size": 9,
}

VALID: dict[str, dict[str, Any]] = {
    "first_usage_check": {
        "checked_on": "2024-03-15",
        "funds_used_as_contracted": True,
        "diversion_found": False,
        "project_progress": "厂房主体完工约八成",
        "evidence": [PDF],
        "conclusion": "normal",
        "notes": "发票与采购合同一致",
    },
    "loan_card_check": {
        "retrieved_on": "2024-03-18",
        "other_bank_credit_balance_change": "-500000.00",
        "other_bank_credit_balance_change_reason": "归还建设银行流动资金贷款",
        "external_guarantee_balance_change": "0",
        "other_bank_classifications": [
            {
                "bank": "某农商行",
                "amount": "2000000.00",
                "risk_class": "special_mention",
                "reason": "逾期35天",
            }
        ],
        "other_bank_delinquencies": [
            {"bank": "某农商行", "kind": "overdue", "amount": "150000.00", "cause": "回款延迟"}
        ],
        "concentrated_maturities": [
            {"bank": "工商银行", "amount": "8000000", "due_date": "2024-05-20"}
        ],
        "environment_social_security_tax_notes": "社保、纳税正常，无环保处罚",
        "report": PDF,
        "conclusion": "attention",
    },
    "customer_visit": {
        "visited_on": "2024-03-20",
        "inspectors": ["zhang.wei", "li.na"],
        "places_visited": ["borrower_office", "production_site"],
        "item_1_operations": "一季度销售收入同比增长 8%，毛利率持平",
        "item_2_financing_investment": "无新增融资及对外投资",
        "item_3_counterparties": "主要客户未变化",
        "item_4_market_outlook": "订单饱满，预计全年平稳",
        "item_5_settlement_decline": None,
        "item_6_project_progress": "二期厂房已封顶",
        "item_7_cooperation_problems": "希望提高网银限额",
        "item_8_other": None,
        "site_observations": "生产线正常运转，库存与账面相符",
        "photos": [PHOTO],
        "inspection_sheet": SHEET,
        "risk_found": False,
        "risk_description": None,
        "warned_superiors": False,
    },
    "phone_follow_up": {
        "called_on": "2024-03-21",
        "contact_person": "王会计",
        "reached": True,
        "controller_whereabouts": "实际控制人在厂内",
        "operating_normally": True,
        "sales_and_purchases": "购销平稳",
        "new_orders": "新签订单 120 万元",
        "payroll": "工资按月发放",
        "other": None,
        "promise_to_pay_amount": "50000.00",
        "promise_to_pay_date": "2024-03-31",
    },
    "collateral_check": {
        "checked_on": "2024-03-22",
        "collateral_exists": True,
        "condition": "good",
        "estimated_value": "12500000.00",
        "insurance_valid": True,
        "seized_or_frozen": False,
        "notes": "厂房及土地使用权状况良好",
        "photos": [PHOTO],
    },
    "extension_review": {
        "decision": "approve",
        "opinion": "借款人经营正常，因项目回款周期延长申请展期，同意",
        "conditions": "每季度归还本金 50 万元",
        "guarantor_consent_filed": True,
        "approved_term_months": 6,
    },
    "classification_review": {
        "decision": "approve",
        "confirmed_class": "substandard",
        "opinion": "逾期超过 90 天，同意认定为次级",
    },
    "warning_disposition": {
        "decision": "approve",
        "signal_grade": "orange",
        "measures": ["more_collateral", "move_to_watch"],
        "disposal_plan": "一个月内追加保证人并列入关注名单",
        "owner": "zhang.wei",
        "deadline": "2024-04-30",
        "opinion": "同意处置方案",
    },
    "handover_review": {
        "decision": "approve",
        "disposal_owner": "disposal",
        "opinion": "同意移交资产处置部门清收",
    },
    "request_revision": {
        "action": "resubmit",
        "note": "已补充担保人书面同意函",
        "documents": [PDF],
    },
    "warning_tracking": {
        "reported_on": "2024-04-20",
        "measures_taken": ["more_collateral"],
        "progress": "已追加保证人并完成抵押登记",
        "outcome": "resolved",
        "evidence": [PDF],
    },
    "collection_contact": {
        "contacted_on": "2024-04-02",
        "channel": "phone",
        "contact_person": "财务总监 王芳",
        "reached": True,
        "outcome": "promise_to_pay",
        "promise_amount": "50000.00",
        "promise_date": "2024-04-15",
        "willingness": "high",
        "ability": "low",
        "notes": "回款延迟，承诺月中先还五万",
        "evidence": [],
    },
    "legal_referral": {
        "referred_on": "2024-05-10",
        "measures": ["lawsuit", "guarantor_claim"],
        "claim_amount": "1200000.00",
        "counsel": "北京金诚律师事务所",
        "notes": "连续三期未还，担保人拒绝代偿",
        "documents": [PDF],
    },
    "graduation_confirmation": {
        "status": "graduated",
        "graduation_date": "2028-07-01",
        "new_expected_graduation_date": None,
        "employment": "employed",
        "employer": "北京某软件有限公司",
        "phone": "138-0013-8000",
        "address": "北京市海淀区中关村大街1号",
        "email": "xiaoming@example.com",
        "emergency_contact": "王大明（父亲）139-0000-0000",
        "confirmation_sheet": PDF,
        "notes": "学院资助中心已核对学籍",
    },
    "student_contact": {
        "contacted_on": "2027-03-15",
        "channel": "phone",
        "reached": True,
        "school_status": "in_school",
        "phone": None,
        "address": None,
        "employer": None,
        "repayment_explained": True,
        "notes": "在校学习正常，已告知毕业后宽限期五年",
    },
    "write_off_review": {
        "decision": "approve",
        "recovery_prospects": "借款人已破产清算，保证人无代偿能力",
        "committee_meeting_ref": "贷审会〔2024〕12号",
        "opinion": "符合核销条件，同意核销",
    },
    "maturity_notice": {
        "issued_on": "2024-03-01",
        "delivery_method": "in_person",
        "receipt": PHOTO,
        "notes": "借款人法定代表人当面签收",
    },
    "overdue_notice": {
        "issued_on": "2024-04-03",
        "delivery_method": "registered_mail",
        "receipt": PHOTO,
    },
}
