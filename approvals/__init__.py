"""Approval requests (展期, 五级分类, 核销, 移交, 预警处置): their table, the chain definitions,
authority and four eyes at every level, and the request service the API, the sweep and the
approval-chain flow share. Between tasks/ and flows/; imports no web or Prefect library."""
