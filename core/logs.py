"""Structured logs: structlog JSON lines on stdout, with request id, tenant, store and lane
bound per request through contextvars."""

from __future__ import annotations

import logging
import re
import sys

import msgspec
import structlog

from schemas import text

_encoder = msgspec.json.Encoder()


def _json(obj: dict, **_kw: object) -> str:
    # msgspec renders a log line several times faster than the stdlib json module.
    return _encoder.encode(obj).decode()


_MAYBE_CARD = re.compile(r"[0-9](?:[ -]?[0-9]){12}")


def redact_card_numbers(_logger: object, _name: str, event: dict) -> dict:
    """A structlog processor: no log line prints a card number (a request path, a header or a
    message that carries one gets "[card number removed]" in its place)."""
    for k, v in event.items():
        if isinstance(v, str) and _MAYBE_CARD.search(v) and text.has_card_number(v):
            event[k] = redact(v)
    return event


def redact(value: str) -> str:
    """`value` with every digit run that holds a card number replaced."""
    return text.RUN.sub(lambda m: "[card number removed]" if text.has_card_number(m.group())
                        else m.group(), value)


def configure(level: str = "info") -> None:
    numeric = getattr(logging, level.upper())
    processors = [
        structlog.contextvars.merge_contextvars,
        redact_card_numbers,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        structlog.processors.JSONRenderer(serializer=_json),
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.WriteLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=True,
    )
    # Route stdlib logging (ours and libraries') through the same JSON renderer.
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processor=structlog.processors.JSONRenderer(serializer=_json),
            foreign_pre_chain=[
                structlog.contextvars.merge_contextvars,
                redact_card_numbers,
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.processors.format_exc_info,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    for noisy in ("uvicorn.access",):
        logging.getLogger(noisy).setLevel(logging.WARNING)
