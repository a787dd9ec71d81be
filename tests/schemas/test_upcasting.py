"""Every event type can be read at every schema version it ever had: the golden bodies written
by earlier releases decode through the one path the store, `verify` and the relay use
(`schemas.events.decode_body`), and upcasters chain v1 -> v2 -> ... on the way."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import msgspec
import pytest

from schemas import events as ev
from schemas.upcasting import EventCodec

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


class _Line(msgspec.Struct):
    type: str
    schema_version: int
    body: msgspec.Raw


def _golden() -> list[_Line]:
    lines: list[_Line] = []
    for path in sorted(GOLDEN.glob("events_v*.jsonl")):
        lines += [msgspec.json.decode(raw, type=_Line) for raw in path.read_bytes().splitlines()]
    return lines


def test_every_event_type_and_version_has_a_golden_body() -> None:
    have = {(line.type, line.schema_version) for line in _golden()}
    need = {(name, v) for name in ev.EVENT_TYPES for v in ev.CODEC.versions(name)}
    assert need <= have, f"no golden body for {sorted(need - have)}"


@pytest.mark.parametrize("line", _golden(), ids=lambda ln: f"{ln.type}@v{ln.schema_version}")
def test_a_golden_body_reads_as_the_current_version(line: _Line) -> None:
    body = ev.decode_body(line.type, line.schema_version, bytes(line.body))
    assert type(body) is ev.EVENT_TYPES[line.type]
    if line.schema_version == type(body).SCHEMA_VERSION:
        # The current version re-encodes to the very bytes the hash chain covers.
        assert ev.encode_body(body) == bytes(line.body)


# --- the mechanism, on a body type of its own ----------------------------------------------


class _NoteV3(ev.EventBody, frozen=True):
    """v1 {"text"}; v2 renamed it to "note"; v3 added "lane_id" (unknown before: None)."""

    TYPE: ClassVar[str] = "test.note"
    SCHEMA_VERSION: ClassVar[int] = 3
    note: str
    lane_id: str | None


_CODEC = EventCodec({"test.note": _NoteV3}, {
    ("test.note", 1): lambda b: {"note": b.pop("text"), **b},
    ("test.note", 2): lambda b: {**b, "lane_id": None},
})


def test_upcasters_chain_from_every_old_version() -> None:
    assert _CODEC.decode("test.note", 1, b'{"text":"hi"}') == _NoteV3("hi", None)
    assert _CODEC.decode("test.note", 2, b'{"note":"hi"}') == _NoteV3("hi", None)
    assert _CODEC.decode("test.note", 3, b'{"note":"hi","lane_id":"l1"}') == _NoteV3("hi", "l1")


def test_a_newer_version_or_a_missing_step_is_refused_with_its_name() -> None:
    with pytest.raises(ValueError, match="version 4 is not readable"):
        _CODEC.decode("test.note", 4, b"{}")
    broken = EventCodec({"test.note": _NoteV3}, {("test.note", 2): lambda b: b})
    with pytest.raises(ValueError, match="v1 has no upcaster to v2"):
        broken.decode("test.note", 1, b'{"text":"hi"}')


def test_an_upcaster_that_drops_a_field_is_caught_like_a_malformed_body() -> None:
    sloppy = EventCodec({"test.note": _NoteV3}, {
        ("test.note", 1): lambda b: b,  # forgot the rename
        ("test.note", 2): lambda b: {**b, "lane_id": None},
    })
    with pytest.raises(msgspec.ValidationError):
        sloppy.decode("test.note", 1, b'{"text":"hi"}')
