"""Store checklists: HQ's definitions arrive by down-sync (the applier the sync engine calls),
items are ticked at a lane or the CLI with who and when (events), an overdue item raises an
alarm on status, and closing the store with open closing items needs a manager."""

from __future__ import annotations

import msgspec
from typer.testing import CliRunner

from edge.checklists.alarms import overdue_check
from edge.checklists.commands import apply_definitions
from edge.cli import app
from schemas import checklists as ck
from schemas.sync import Change
from tests.edge.api.helpers import assert_problem, head_seq, post
from tests.support.live_app import LiveApp

HOUR_MS = 3_600_000


def _define(live: LiveApp, definition: ck.ChecklistDefinition, change_id: int = 1) -> list[str]:
    change = Change(change_id, "checklist.defined", msgspec.json.encode(definition), 0)
    return live.service.writer.run_sync(lambda tx: apply_definitions(tx, [change]))


OPEN = ck.ChecklistDefinition("open-1", "open", "Opening", (
    ck.ChecklistItem("lights", "Lights on", "10:30"), ck.ChecklistItem("float", "Count floats")))
CLOSE = ck.ChecklistDefinition("close-1", "close", "Closing", (
    ck.ChecklistItem("safe", "Safe locked"),))


def test_ticks_overdue_alarm_and_closing_gate(live: LiveApp) -> None:
    assert _define(live, OPEN) == ["checklist open-1: 2 item(s)"]
    _define(live, CLOSE, 2)
    assert _define(live, ck.ChecklistDefinition("x", "open", "Other store", (), "store-999"),
                   3) == ["for store store-999; not this one"]
    lane, mgr = live.client("lane-1"), live.client("manager-1")
    views = lane.get("/v1/checklists").json()
    assert [v["checklist_id"] for v in views] == ["open-1", "close-1"]

    # 10:00 UTC = 11:00 in Berlin: "lights" (due 10:30 local) is overdue.
    check = overdue_check(live.service.clock, live.service.identity)
    assert "open-1/lights" in check(live.service.reader)
    r = post(lane, "/v1/checklists/open-1/items/lights/tick", {"note": "all on"})
    assert r.status_code == 201, r.text
    item = r.json()[0]["items"][0]
    assert item["ticked_by"] and item["ticked_at_ms"] == live.clock.now_ms() and not item["overdue"]
    assert check(live.service.reader) == "ok"
    assert_problem(post(lane, "/v1/checklists/open-1/items/lights/tick", {}), 409, "conflict")
    assert_problem(post(lane, "/v1/checklists/open-1/items/nope/tick", {}), 404, "not-found")

    # Ticked from the CLI: recorded as cli:<name>.
    r = CliRunner().invoke(app, ["checklist", "tick", "open-1", "float", "--by", "anna",
                                 "--data-dir", str(live.service.data_dir)])
    assert r.exit_code == 0, r.output
    # (The CLI runs on the machine's clock, the test's app on its own: look in the log.)
    rows = live.service.reader.execute(
        "SELECT by FROM checklist_ticks WHERE checklist_id = 'open-1' AND item_id = 'float'")
    assert [r[0] for r in rows] == ["cli:anna"]

    # Closing the store with "safe" still open: a cashier is refused, a manager may.
    before = head_seq(live)
    assert_problem(post(lane, "/v1/tills/end-of-day", {"counts": {}}), 403, "manager-approval-required")
    assert head_seq(live) == before
    assert post(mgr, "/v1/tills/end-of-day", {"counts": {}}).status_code == 201
    # Once ticked, a cashier may close the store (a new day needs its own ticks).
    live.clock.advance(24 * HOUR_MS)
    assert post(lane, "/v1/checklists/close-1/items/safe/tick", {}).status_code == 201
    assert post(lane, "/v1/tills/end-of-day", {"counts": {}}).status_code == 201
