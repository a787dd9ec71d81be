"""Store checklists: open/close checklists from HQ, ticks with who and when, overdue alarms
(docs/cash.md, "Checklists")."""
