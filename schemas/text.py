"""Free text typed by people (a cart note, a void reason, the reference of a manual tender):
the one type every such request field uses, and the card-number detector behind it.

Two rules hold for every free-text field, wherever a request comes in:

- No control characters (C0, DEL, C1: NUL, tab, newline, escape, ...): they would reach
  receipts, the printer, sync and HQ. Refused as 400 `invalid-request`, naming the field.
- No card number: a run of 13-19 digits, optionally grouped by single spaces or dashes, that
  passes the Luhn check, is refused as 422 `card-number-refused`, and nothing of the request
  is stored (PCI DSS: no PAN at rest; the log is hash-chained and synced, so it could never
  be removed afterwards).

Use it as a field type:

    class VoidCart(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
        reason: FreeText = ""                       # up to 200 characters
        reference: free_text(min_length=1, max_length=64) | None = None

Both rules are applied by the API's body gate (`edge.api.bodies`) to every field marked as
free text (`is_free_text`), after strict decoding and before anything runs, on the fast lane
and the framework path alike; the OpenAPI shows the control-character rule as a `pattern`
and marks the field `x-free-text: true`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import msgspec

# No C0 controls, DEL or C1 controls, as the OpenAPI states it (ECMA-262). Checked by
# `has_control_char`, not by msgspec: Python's `$` also matches before a trailing newline, and
# the refusal should say in plain words what is wrong.
NO_CONTROL_CHARS = r"^[^\u0000-\u001f\u007f-\u009f]*$"
_CONTROL = re.compile(r"[\u0000-\u001f\u007f-\u009f]")
FREE_TEXT_MARK = "free_text"

# A run of digit groups, separated by one space or dash ("4111 1111-1111 1111").
RUN = re.compile(r"[0-9]+(?:[ -][0-9]+)*")
_DIGITS = re.compile(r"[0-9]")
# Every card number `has_card_number` finds is 13 digits or more with at most one space or dash
# between two of them; text without such a stretch (most ids, paths, keys) holds none.
_THIRTEEN = re.compile(r"[0-9](?:[ -]?[0-9]){12}")


def free_text(*, max_length: int = 200, min_length: int = 0,
              description: str | None = None) -> Any:
    """A free-text field type: printable text, at most `max_length` characters, never a card
    number."""
    return Annotated[str, msgspec.Meta(
        min_length=min_length, max_length=max_length,
        description=description or "Free text: no control characters, never a card number "
        "(a Luhn-valid run of 13-19 digits is refused with 422 card-number-refused)",
        extra={FREE_TEXT_MARK: True},
        extra_json_schema={"x-free-text": True, "pattern": NO_CONTROL_CHARS},
    )]


FreeText = free_text()


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def has_card_number(text: str) -> bool:
    """True if `text` holds a card number as people type one: 13-19 digits that pass the Luhn
    check, written either as one run of digits or in groups of 3-6 digits separated by single
    spaces or dashes ("4111 1111 1111 1111", "3400-000000-00009"). Found inside other text
    and after other numbers ("order 12 4111 1111 1111 1111"); not when glued to letters
    ("a4111111111111111b": a hex or base64 string, an identifier), nor inside UUIDs (groups of
    8-4-4-4-12), nor as part of a longer run of digits (a 25-digit reference)."""
    if _THIRTEEN.search(text) is None:  # the common case, answered by one regex search
        return False
    for run in RUN.finditer(text):
        start, end = run.span()
        if (start > 0 and text[start - 1].isalpha()) or (end < len(text) and text[end].isalpha()):
            continue
        groups = re.split(r"[ -]", run.group())
        for i in range(len(groups)):
            if 13 <= len(groups[i]) <= 19 and luhn_valid(groups[i]):
                return True
            digits = ""
            for group in groups[i:]:
                if not 3 <= len(group) <= 6:
                    break
                digits += group
                if len(digits) > 19:
                    break
                if len(digits) >= 13 and luhn_valid(digits):
                    return True
    return False


def has_control_char(text: str) -> bool:
    return _CONTROL.search(text) is not None


def is_free_text(annotation_meta: Any) -> bool:
    extra = getattr(annotation_meta, "extra", None) or {}
    return bool(extra.get(FREE_TEXT_MARK))


Reader = Callable[[Any, str], Iterator[tuple[str, str]]]


def free_text_reader(contract: Any) -> Reader | None:
    """A function yielding (field path, text) for every free-text field set in a decoded value
    of `contract`, planned once from its type (None: the contract has no free text)."""
    from msgspec import inspect

    return _plan(inspect.type_info(contract))


def free_text_values(value: Any, type_info: Any = None, path: str = "") -> Iterator[tuple[str, str]]:
    """(field path, text) of every free-text field set in a decoded request `value`."""
    from msgspec import inspect

    reader = _plan(type_info if type_info is not None else inspect.type_info(type(value)))
    return reader(value, path) if reader is not None else iter(())


def _plan(info: Any) -> Reader | None:
    from msgspec import inspect

    if isinstance(info, inspect.Metadata):
        if is_free_text(info):
            def text_field(value: Any, path: str) -> Iterator[tuple[str, str]]:
                if isinstance(value, str):
                    yield path, value
            return text_field
        return _plan(info.type)
    if isinstance(info, inspect.UnionType):
        readers = [r for r in (_plan(t) for t in info.types) if r is not None]
        if not readers:
            return None

        def any_of(value: Any, path: str) -> Iterator[tuple[str, str]]:
            if value is not None:
                for r in readers:
                    yield from r(value, path)
        return any_of
    if isinstance(info, inspect.StructType):
        fields = [(f.name, f.encode_name, r) for f in info.fields
                  if (r := _plan(f.type)) is not None]
        if not fields:
            return None
        cls = info.cls

        def struct(value: Any, path: str) -> Iterator[tuple[str, str]]:
            if type(value) is cls:
                for name, wire, r in fields:
                    yield from r(getattr(value, name), f"{path}.{wire}" if path else wire)
        return struct
    if isinstance(info, (inspect.ListType, inspect.VarTupleType)):
        item = _plan(info.item_type)
        if item is None:
            return None

        def items(value: Any, path: str) -> Iterator[tuple[str, str]]:
            for i, v in enumerate(value or ()):
                yield from item(v, f"{path}[{i}]")
        return items
    return None
