"""Printing contracts: the printable document, print jobs, and what a lane is told about them.

A `Document` is a list of printable elements, independent of any printer: the receipt renderer
produces it, the ESC/POS driver turns it into bytes for one printer's profile, and test prints
are persisted as one. Print-job views are what the admin API, the CLI and the order response
report about the persisted print queue.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

Align = Literal["left", "center", "right"]
PrintJobKind = Literal["receipt", "reprint", "test", "document"]
PrintJobState = Literal["queued", "printing", "printed", "failed"]

# A receipt line never needs more than a wide printer's columns; the cap keeps a bad caller from
# sending megabytes to a printer.
MAX_TEXT_CHARS = 512
MAX_ELEMENTS = 2_000


class Text(msgspec.Struct, frozen=True, tag="text"):
    """One printed line (the driver ends it with LF)."""

    text: Annotated[str, msgspec.Meta(max_length=MAX_TEXT_CHARS)]
    align: Align = "left"
    bold: bool = False
    underline: bool = False
    double_height: bool = False
    double_width: bool = False


class Feed(msgspec.Struct, frozen=True, tag="feed"):
    lines: Annotated[int, msgspec.Meta(ge=1, le=10)] = 1


class Barcode(msgspec.Struct, frozen=True, tag="barcode"):
    """A 1-D barcode printed by the printer itself (CODE128 accepts any printable ASCII)."""

    data: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    symbology: Literal["CODE128", "EAN13", "EAN8", "CODE39"] = "CODE128"


class QrCode(msgspec.Struct, frozen=True, tag="qr"):
    """A QR code printed natively (GS ( k), so the printer needs no raster image."""

    data: Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
    module_dots: Annotated[int, msgspec.Meta(ge=1, le=16)] = 6


class Cut(msgspec.Struct, frozen=True, tag="cut"):
    partial: bool = False


Element = Text | Feed | Barcode | QrCode | Cut


class Document(msgspec.Struct, frozen=True):
    elements: Annotated[list[Element], msgspec.Meta(max_length=MAX_ELEMENTS)]


class ReceiptPrint(msgspec.Struct, frozen=True):
    """What the lane is told about its receipt: the sale never waits for paper."""

    job_id: str
    printer_id: str
    state: PrintJobState


class PrintJobView(msgspec.Struct, frozen=True):
    job_id: str
    printer_id: str
    kind: PrintJobKind
    order_id: str | None
    state: PrintJobState
    attempts: int
    next_attempt_at_ms: int
    last_cause: str | None
    created_at_ms: int
    updated_at_ms: int


class PrintQueueView(msgspec.Struct, frozen=True):
    printer_id: str
    depth: int
    jobs: list[PrintJobView]


class ReprintReceipt(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Body of `POST /v1/orders/{order_id}/receipt/print`; the printer defaults to the lane's."""

    printer_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None
