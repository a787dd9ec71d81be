"""The one way a request body comes in: its media type, its JSON, its contract, its text.

Every route that declares a body (`data: JSONBody[SomeStruct]`) has a `Contract`; the body gate
(`BodyGate`, a middleware after authentication) and the fast lane both decode through it, so a
body is judged the same on either path:

1. Content-Type: `application/json` (parameters such as `charset=utf-8` allowed), else 415
   `unsupported-media-type`. A route reading its body raw declares the media types it takes
   with `opt={"media_types": (...)}` (the catalog import: JSON or CSV).
2. JSON: UTF-8, well-formed, nested at most `MAX_DEPTH` levels, else 400 `invalid-request`.
3. The contract, decoded strictly (msgspec `strict=True`): a string or a float where an integer
   is declared, a missing required field, an unknown field, a value out of range, or a rule of
   the request itself (exactly one of `qty`/`qty_milli`, ...) is 400 `invalid-request`, with
   `errors: [{field, message}]` naming the field as the request spells it, in plain words.
4. Free text (`schemas.text`): a control character is 400 `invalid-request`; a card number is
   422 `card-number-refused`, refused before the idempotency gate, so nothing of the request is
   stored, not even its key.

Only then does the handler run; a refused body changed nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, get_args, get_origin, get_type_hints

import msgspec
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from core.errors import BadRequest, CardNumberRefused, DomainError
from schemas import text

MAX_DEPTH = 32
JSON = "application/json"
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"')
_BRACKETS = re.compile(rb"[\[\]{}]")


class UnsupportedMediaType(DomainError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


def media_type(content_type: bytes | str | None) -> str:
    if isinstance(content_type, bytes):
        content_type = content_type.decode("latin-1")
    return (content_type or "").split(";", 1)[0].strip().lower()


def check_media_type(content_type: bytes | str | None, accepted: tuple[str, ...] = (JSON,)) -> str:
    got = media_type(content_type)
    if got not in accepted:
        raise UnsupportedMediaType(
            f"this route takes a body of type {' or '.join(accepted)}, not "
            f"{got or 'a body without Content-Type'}", field="Content-Type")
    return got


def check_depth(body: bytes, limit: int = MAX_DEPTH) -> None:
    """400 if the JSON nests deeper than `limit`. Free for ordinary bodies (fewer brackets
    than the limit cannot nest deeper); otherwise strings are cut out and brackets counted."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return
    depth = 0
    for m in _BRACKETS.finditer(_STRINGS.sub(b"", body)):
        if m.group() in (b"[", b"{"):
            depth += 1
            if depth > limit:
                raise BadRequest(f"the JSON body nests deeper than {limit} levels",
                                 field="body")
        else:
            depth -= 1


def check_text(value: Any, reader: text.Reader | None) -> None:
    """The free-text rules over every free-text field of a decoded request."""
    if reader is None:
        return
    for path, s in reader(value, ""):
        if text.has_card_number(s):
            # The message names the field, never the value.
            raise CardNumberRefused(
                f"{path} looks like a card number; card numbers are never stored: take the "
                "payment on the terminal and type no card data", field=path)
        if text.has_control_char(s):
            raise BadRequest(f"{path}: control characters (newline, tab, NUL, ...) are not "
                             "allowed in text", field=path)


_WORDS = {
    "int": "an integer", "str": "a string", "float": "a number with a fraction",
    "bool": "true or false", "null": "null", "object": "a JSON object", "array": "a JSON array",
}


def _words(types: str) -> str:
    return " or ".join(_WORDS.get(t.strip(), t.strip()) for t in types.split("|"))


def field_error(exc: msgspec.ValidationError | str) -> tuple[str, str]:
    """(field, plain message) of a msgspec validation error (or its message)."""
    message = str(exc)
    where = "body"
    m = re.search(r" - at `\$(.*)`$", message)
    if m:
        where = m.group(1).lstrip(".") or "body"
        message = message[:m.start()]
    if (m := re.match(r"Object missing required field `(.+)`", message)):
        return _join(where, m.group(1)), "is required"
    if (m := re.match(r"Object contains unknown field `(.+)`", message)):
        return _join(where, m.group(1)), "is not a field of this request"
    if (m := re.match(r"Expected `(.+)`, got `(.+)`", message)):
        wanted = _words(m.group(1))
        return where, f"must be {wanted}, not {_words(m.group(2))}"
    if (m := re.match(r"Expected `(?:int|float)(?: \| null)?` (>=|<=|>|<) (-?\d+)", message)):
        word = {">=": "at least", "<=": "at most", ">": "more than", "<": "less than"}[m.group(1)]
        return where, f"must be {word} {m.group(2)}"
    if (m := re.match(r"Expected `(?:str|array|object)(?: \| null)?` of length (>=|<=) (\d+)",
                      message)):
        word = "at least" if m.group(1) == ">=" else "at most"
        return where, f"must have {word} {m.group(2)} characters or items"
    if message.startswith("Expected `str` matching regex"):
        return where, "has characters or a format that is not allowed here"
    if message.startswith("Invalid enum value"):
        return where, f"{message[len('Invalid enum value '):]} is not one of the allowed values"
    return where, message


def _join(where: str, name: str) -> str:
    return name if where == "body" else f"{where}.{name}"


@dataclass(frozen=True, slots=True)
class Contract:
    """How one route's body is decoded and judged."""

    type: Any
    decoder: msgspec.json.Decoder = field(repr=False)
    texts: text.Reader | None = field(repr=False)

    @classmethod
    def of(cls, contract: Any) -> Contract:
        return cls(contract, msgspec.json.Decoder(contract, strict=True),
                   text.free_text_reader(contract))

    def decode(self, body: bytes) -> Any:
        """The request value, or a `DomainError` (400 / 422) saying what is wrong."""
        if not body.strip():
            raise BadRequest("the request needs a JSON body (an object; {} when there is "
                             "nothing to say)", field="body")
        check_depth(body)
        try:
            value = self.decoder.decode(body)
        except msgspec.ValidationError as exc:
            where, message = field_error(exc)
            detail = message if where == "body" else f"{where}: {message}"
            raise BadRequest(detail, field=where) from None
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
            detail = ("the body is not UTF-8" if isinstance(exc, UnicodeDecodeError)
                      else f"the body is not valid JSON ({exc})")
            raise BadRequest(detail, field="body") from None
        check_text(value, self.texts)
        return value


def contract_of(fn: Any) -> Contract | None:
    """The body contract of a route handler function (`data: JSONBody[T]`), if it has one."""
    body = get_type_hints(fn, include_extras=True).get("data")
    if body is None:
        return None
    return Contract.of(get_args(body)[0] if get_origin(body) is not None else body)


class BodyGate:
    """Litestar middleware (after authentication): judges the body of every route that declares
    one, before its handler runs; the body, once judged, is replayed unchanged to the
    framework."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self._contracts: dict[int, Contract | None] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = scope.get("route_handler") if scope["type"] == "http" else None
        if handler is None or scope["method"] in ("GET", "HEAD", "DELETE", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = (handler.opt or {}).get("media_types")
        if declared is not None:  # the route reads its body raw, in one of these types
            check_media_type(headers.get(b"content-type"), tuple(declared))
            await self.app(scope, receive, send)
            return
        key = id(handler.fn)
        if key not in self._contracts:
            self._contracts[key] = contract_of(handler.fn)
        contract = self._contracts[key]
        if contract is None:
            await self.app(scope, receive, send)
            return
        check_media_type(headers.get(b"content-type"))
        body, messages = await read_body(receive, self.max_body_bytes)
        replay = replaying(messages, receive)
        if body is not None:  # None: too big, the framework answers 413
            contract.decode(body)
        await self.app(scope, replay, send)


async def read_body(receive: Receive, limit: int) -> tuple[bytes | None, list[Message]]:
    """The whole body (None when over `limit`) and the messages read, to replay them."""
    messages: list[Message] = []
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return None, messages
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None, messages
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), messages


def replaying(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay
