"""[printing]: the receipt layout and the print queue's retries; a receipt printer's own
settings (`PrinterConfig`, listed under `[[devices.printers]]`). docs/printing.md."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from schemas.ids import Id


class PrinterConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One receipt printer: where it is, how wide, which lanes print on it."""

    id: Id
    transport: Literal["tcp", "serial", "usb"] = "tcp"
    host: str | None = None
    port: Annotated[int, msgspec.Meta(ge=1, le=65_535)] = 9100
    path: str | None = None
    baudrate: Annotated[int, msgspec.Meta(ge=1_200, le=921_600)] = 19_200
    vendor_id: Annotated[int, msgspec.Meta(ge=0, le=0xFFFF)] | None = None
    product_id: Annotated[int, msgspec.Meta(ge=0, le=0xFFFF)] | None = None
    columns: Annotated[int, msgspec.Meta(ge=24, le=64)] = 42
    profile: str = "TM-T88V"
    # Every receipt is printed in this one code page (ESC t once per job); the printer's
    # profile must have it. PC858 is PC850 with the euro sign; WPC1252 is Windows-1252.
    code_page: Literal["PC858", "WPC1252"] = "PC858"
    lanes: list[Id] = []
    drawer_pin: Literal[2, 5] = 2
    drawer_open_when_high: bool = False
    status_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=30)] = 2.0

    def __post_init__(self) -> None:
        if self.transport == "tcp" and not self.host:
            raise ValueError(f"printer {self.id}: a tcp printer needs host")
        if self.transport == "serial" and not self.path:
            raise ValueError(f"printer {self.id}: a serial printer needs path")
        if self.transport == "usb" and (self.vendor_id is None or self.product_id is None):
            raise ValueError(f"printer {self.id}: a usb printer needs vendor_id and product_id")


class PrintingConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How receipts look and how the print queue retries. The printers themselves are devices:
    `[[devices.printers]]`."""

    header: list[Annotated[str, msgspec.Meta(max_length=64)]] = []
    footer: list[Annotated[str, msgspec.Meta(max_length=64)]] = msgspec.field(
        default_factory=lambda: ["Thank you for shopping with us"])
    receipt_code: Literal["qr", "code128", "none"] = "qr"
    kick_drawer_on_cash: bool = True
    retry_initial_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 1.0
    retry_max_s: Annotated[float, msgspec.Meta(gt=0, le=3_600)] = 30.0
    # A job is failed after this many attempts (reprint re-queues it); paper out counts too.
    max_attempts: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 200
    # While a job waits on a stopped printer, its status is polled this often so a fix (paper
    # loaded, cover shut) prints at once instead of after the backoff.
    status_poll_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 1.0
    idle_status_poll_s: Annotated[float, msgspec.Meta(gt=0, le=600)] = 10.0
    # `serve --demo` with no printer configured prints on an emulated one unless this is off.
    demo_printer: bool = True

    def __post_init__(self) -> None:
        if self.retry_max_s < self.retry_initial_s:
            raise ValueError("printing: retry_max_s must be at least retry_initial_s")
