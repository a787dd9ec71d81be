"""The signed period archive: a store's log over a range of business days with its daily,
monthly and yearly grand totals, every line signed and chained to the one before; and its
offline verification.

Format (text, one record per line): `<record JSON> TAB <signature base64> LF`. Line n's
signature covers `signature(n-1) || record JSON bytes` (line 1 chains to nothing), so any
changed, added, removed or reordered byte breaks the line it is in or the next one. Records:
- `header`: store, signer (key id, algorithm, public key), the range, the seq and hash the
  events start after, and the perpetual grand total before the first day;
- `event`: one log event as the envelope's JSON (`schemas.envelope.Event`, bytes as base64),
  in seq order, hash-chained (`core.chain`), their fiscal signature records among them;
- `day` / `month` / `year`: totals of a business day (from `core.zreport.z_report`, the store's
  own Z report arithmetic), a month, a year, each with the perpetual grand total
  (Σ sales − refunds since the store's first event) after it, chained through the previous one;
- `end`: the number of records, so a truncated archive is found.

`verify` needs only the file (and optionally the public key expected from HQ): it checks every
line's signature, the hash chain of the events, every fiscal signature against its event's
bytes, and recomputes each day, month, year and grand total; it names the first bad record.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import apsw
import msgspec

from core import chain, files
from core.zreport import DayEvent, z_report
from edge.fiscal.signer import Signer, verify_signature
from edge.store import eventlog
from schemas import fiscal as f
from schemas.envelope import Event
from schemas.events import decode_body

FORMAT = "novapos-fiscal-archive-1"
_enc = msgspec.json.Encoder()
_event_enc = msgspec.json.Encoder()
_event_dec = msgspec.json.Decoder(Event)


@dataclass(frozen=True, slots=True)
class Totals:
    sales_count: int = 0
    total_minor: int = 0
    tax_minor: int = 0
    refunds_minor: int = 0

    def __add__(self, o: Totals) -> Totals:
        return Totals(self.sales_count + o.sales_count, self.total_minor + o.total_minor,
                      self.tax_minor + o.tax_minor, self.refunds_minor + o.refunds_minor)

    @property
    def net_minor(self) -> int:  # what the period adds to the perpetual grand total
        return self.total_minor - self.refunds_minor


def day_totals(store_id: str, day: str, events: Iterable[Event]) -> Totals:
    z = z_report(store_id, day, (DayEvent(e.business_date, decode_body(
        e.type, e.schema_version, e.body)) for e in events))
    return Totals(z.sales_count, z.total_minor, z.tax_minor, z.refunds_minor)


def _period_record(kind: str, period: str, t: Totals, grand: int) -> dict[str, Any]:
    return {"kind": kind, "period": period, "sales_count": t.sales_count,
            "total_minor": t.total_minor, "tax_minor": t.tax_minor,
            "refunds_minor": t.refunds_minor, "net_minor": t.net_minor,
            "grand_total_minor": grand}


def _days(events: list[Event]) -> list[str]:
    return sorted({e.business_date for e in events})


def records(store_id: str, signer: Signer, events: list[Event], before: list[Event],
            from_day: str, to_day: str) -> Iterator[dict[str, Any]]:
    """The archive's records for `events` (the log's events of the range, in seq order);
    `before` are the log's earlier events (for the grand total before the range)."""
    all_days = _days(before)
    grand_before = sum(day_totals(store_id, d, before).net_minor for d in all_days)
    first = events[0] if events else None
    yield {"kind": "header", "format": FORMAT, "store_id": store_id, "from": from_day,
           "to": to_day, "key_id": signer.key_id, "algorithm": signer.algorithm,
           "public_key_b64": signer.public_key_b64, "serial": signer.serial,
           "after_seq": first.seq - 1 if first else 0,
           "after_hash_hex": first.prev_hash.hex() if first else "",
           "grand_total_before_minor": grand_before}
    for e in events:
        yield {"kind": "event", "event": e}
    yield from _totals(store_id, events, grand_before)


def _totals(store_id: str, events: list[Event], grand: int) -> Iterator[dict[str, Any]]:
    by_day: dict[str, list[Event]] = {}
    for e in events:
        by_day.setdefault(e.business_date, []).append(e)
    days = sorted(by_day)
    month = year = Totals()
    for i, day in enumerate(days):
        # A refund of an earlier day names its tender through that day's refund event.
        t = day_totals(store_id, day, [*by_day[day], *(e for e in events
                                                      if e.type == "order.refund_created")])
        grand += t.net_minor
        month, year = month + t, year + t
        yield _period_record("day", day, t, grand)
        nxt = days[i + 1] if i + 1 < len(days) else None
        if nxt is None or nxt[:7] != day[:7]:
            yield _period_record("month", day[:7], month, grand)
            month = Totals()
        if nxt is None or nxt[:4] != day[:4]:
            yield _period_record("year", day[:4], year, grand)
            year = Totals()


def _line_bytes(record: dict[str, Any]) -> bytes:
    if record["kind"] == "event":
        return b'{"kind":"event","event":' + _event_enc.encode(record["event"]) + b"}"
    return _enc.encode(record)


def write(path: Path, conn: apsw.Connection, store_id: str, signer: Signer, from_day: str,
          to_day: str) -> int:
    """Write the archive of business days [from_day, to_day] from the log; the number of
    records. The file appears whole or not at all (`core.files.open_atomic`)."""
    every = list(eventlog.read(conn))
    events = [e for e in every if from_day <= e.business_date <= to_day]
    before = [e for e in every if e.business_date < from_day]
    prev = b""
    count = 0
    with files.open_atomic(path, mode=0o644) as fh:
        for record in records(store_id, signer, events, before, from_day, to_day):
            count += 1
            prev = _emit(fh, signer, prev, _line_bytes(record))
        _emit(fh, signer, prev, _enc.encode({"kind": "end", "records": count + 1}))
    return count + 1


def _emit(fh, signer: Signer, prev: bytes, data: bytes) -> bytes:
    sig = signer.sign(prev + data)
    fh.write(data + b"\t" + base64.b64encode(sig) + b"\n")
    return sig


# --- verification ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    records: int
    bad_record: int | None = None  # 1-based line number of the first bad record
    kind: str = ""
    reason: str = ""
    key_id: str = ""


class _Bad(Exception):
    def __init__(self, line: int, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.line, self.kind, self.reason = line, kind, reason


def verify(path: Path, public_key_b64: str | None = None) -> Verdict:
    """Check an archive offline; the first bad record, or ok."""
    try:
        return _verify(Path(path).read_bytes(), public_key_b64)
    except _Bad as bad:
        return Verdict(False, bad.line - 1, bad.line, bad.kind, bad.reason)


def _verify(data: bytes, expected_key: str | None) -> Verdict:
    if not data.endswith(b"\n"):
        raise _Bad(data.count(b"\n") + 1, "", "the archive does not end with a whole record "
                   "(truncated?)")
    lines = data[:-1].split(b"\n")
    prev = b""
    key = ""
    header: dict[str, Any] = {}
    events: list[Event] = []
    periods: list[tuple[int, dict[str, Any]]] = []
    for n, line in enumerate(lines, start=1):
        payload, tab, sig_b64 = line.rpartition(b"\t")
        if not tab:
            raise _Bad(n, "", "not a signed record (no signature)")
        try:
            sig = base64.b64decode(sig_b64, validate=True)
            if base64.b64encode(sig) != sig_b64:  # unused bits of the last character
                raise ValueError("signature is not in canonical base64")
            record = msgspec.json.decode(payload)
        except (ValueError, msgspec.DecodeError) as exc:
            raise _Bad(n, "", f"unreadable: {exc}") from None
        kind = record.get("kind", "") if isinstance(record, dict) else ""
        if n == 1:
            if kind != "header" or record.get("format") != FORMAT:
                raise _Bad(n, kind, f"the first record must be a {FORMAT} header")
            key = record.get("public_key_b64", "")
            if expected_key is not None and key != expected_key:
                raise _Bad(n, kind, "signed with another key than the one expected")
            header = record
        if not verify_signature(key, prev + payload, sig):
            raise _Bad(n, kind, "signature does not verify (record altered, or not chained "
                       "to the one before)")
        prev = sig
        if kind == "event":
            try:
                events.append(_event_dec.decode(payload[len(b'{"kind":"event","event":'):-1]))
            except msgspec.DecodeError as exc:
                raise _Bad(n, kind, f"unreadable event: {exc}") from None
            _check_event(n, header, events)
        elif kind in ("day", "month", "year"):
            periods.append((n, record))
        elif kind == "end":
            if record.get("records") != n or n != len(lines):
                raise _Bad(n, kind, "record count does not match (records removed or added)")
        elif n != 1:
            raise _Bad(n, kind, f"unknown record kind {kind!r}")
    if not lines or msgspec.json.decode(lines[-1].rpartition(b"\t")[0]).get("kind") != "end":
        raise _Bad(len(lines), "", "no end record (truncated?)")
    _check_totals(header, events, periods)
    return Verdict(True, len(lines), key_id=header.get("key_id", ""))


def _check_event(n: int, header: dict[str, Any], events: list[Event]) -> None:
    e = events[-1]
    if len(events) == 1:
        if e.seq != header["after_seq"] + 1 or e.prev_hash.hex() != header["after_hash_hex"]:
            raise _Bad(n, "event", "the first event does not follow the header's seq and hash")
    else:
        p = events[-2]
        if e.seq != p.seq + 1 or e.prev_hash != p.hash:
            raise _Bad(n, "event", f"seq {e.seq} does not follow seq {p.seq} in the hash chain")
    if chain.hash_of(e) != e.hash:
        raise _Bad(n, "event", f"event seq {e.seq}: bytes do not match its hash")
    if e.type == f.FiscalSigned.TYPE:
        r = decode_body(e.type, e.schema_version, e.body)
        assert isinstance(r, f.FiscalSigned)
        target = next((x for x in reversed(events) if x.seq == r.event_seq), None)
        if target is None:
            return  # signs an event before the archive's range
        msg = f.signed_bytes(store_id=e.store_id, transaction_number=r.transaction_number,
                             signature_counter=r.signature_counter, event_seq=r.event_seq,
                             event_type=r.event_type, start_ms=r.start_ms, end_ms=r.end_ms,
                             key_id=r.key_id, event_bytes=chain.hashed_bytes(target))
        keys = [header.get("public_key_b64", "")] + [
            decode_body(x.type, x.schema_version, x.body).public_key_b64  # type: ignore[union-attr]
            for x in events if x.type == f.FiscalSignerRegistered.TYPE]
        if not any(verify_signature(k, msg, base64.b64decode(r.signature_b64)) for k in keys):
            raise _Bad(n, "event", f"fiscal signature of seq {r.event_seq} does not verify")


def _check_totals(header: dict[str, Any], events: list[Event],
                  periods: list[tuple[int, dict[str, Any]]]) -> None:
    expected = list(_totals(header["store_id"], events, header["grand_total_before_minor"]))
    for i, (n, got) in enumerate(periods):
        if i >= len(expected) or got != expected[i]:
            raise _Bad(n, got.get("kind", ""), f"{got.get('kind')} {got.get('period')}: totals "
                       "do not match the archive's events")
    if len(periods) != len(expected):
        n = periods[-1][0] if periods else 1
        raise _Bad(n, "", "period records missing")
