"""Manager approvals: rules, requests, PIN and device approvals, tokens, the audit trail."""
