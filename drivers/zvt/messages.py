"""The ZVT messages this product speaks, built and parsed as pure functions over `codec`.

ECR → terminal commands (06 00 registration, 06 01 authorization, 06 22 pre-authorization,
06 24 book total, 06 30 reversal, 06 31 refund, 06 20 repeat receipt, 05 01 status enquiry,
06 50 end-of-day, 06 B0 abort) and terminal → ECR answers (80 00 00 ACK, 84 xx NAK, 04 FF
intermediate status, 04 0F status information, 06 D1 print line, 06 0F completion, 06 1E
abort). Both the driver and the emulator use these functions, so the two can only disagree
about behaviour, never about bytes.

Where the public spec leaves room we use TLV tags in the BMP 06 container (see docs/zvt.md):
the ECR's own reference, the original command echoed in status information, the original
reference of a refund, and the store-and-forward counters. A terminal ignores TLV tags it does
not know, which is why these live there and not in new BMPs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from drivers.zvt.codec import (
    Apdu,
    Bitmaps,
    Tlv,
    Value,
    ZvtCodecError,
    decode_bitmaps,
    digits_decode,
    digits_encode,
    encode_bitmaps,
)

# --- commands (class, instruction) -------------------------------------------------------------
REGISTRATION = (0x06, 0x00)
AUTHORIZATION = (0x06, 0x01)
PRE_AUTHORIZATION = (0x06, 0x22)
BOOK_TOTAL = (0x06, 0x24)
REVERSAL = (0x06, 0x30)
REFUND = (0x06, 0x31)
REPEAT_RECEIPT = (0x06, 0x20)
STATUS_ENQUIRY = (0x05, 0x01)
END_OF_DAY = (0x06, 0x50)
ECR_ABORT = (0x06, 0xB0)
STATUS_INFORMATION = (0x04, 0x0F)
INTERMEDIATE_STATUS = (0x04, 0xFF)
PRINT_LINE = (0x06, 0xD1)
COMPLETION = (0x06, 0x0F)
PT_ABORT = (0x06, 0x1E)
ACK_CLASS = 0x80
NAK_CLASS = 0x84

ACK = Apdu(ACK_CLASS, 0x00)

# --- result codes (BMP 27 / 06 1E) we produce or interpret -------------------------------------
RC_SUCCESS = 0x00
RC_DECLINED_DEFAULT = 0x05        # an issuer answer in 01-63: "do not honour"
RC_ABORT_TIMEOUT_OR_KEY = 0x6C    # abort via timeout or abort key: nothing moved
RC_FUNCTION_NOT_POSSIBLE = 0x83   # also: repeat receipt with no transaction on file
RC_NO_CONNECTION = 0xA3           # no connection to the processor (store-and-forward off)
RC_ALREADY_REVERSED = 0xB4
RC_REVERSAL_NOT_POSSIBLE = 0xB5
RC_PREAUTH_INCORRECT = 0xB7
RC_MAX_AMOUNT_EXCEEDED = 0xC3
RC_PT_BUSY = 0x9C                 # "please wait": another transaction is running
RC_SYSTEM_ERROR = 0xFF

# payment type (BMP 19) in status information: 0x40 marks an offline (stored) payment.
PAYMENT_TYPE_OFFLINE = 0x40
PAYMENT_TYPE_ONLINE = 0x60

# registration config byte bits
CFG_ECR_PRINTS_PAYMENT_RECEIPT = 0x02
CFG_ECR_PRINTS_ADMIN_RECEIPT = 0x04
CFG_INTERMEDIATE_STATUS = 0x08

# TLV tags (BMP 06). 1F11 is the spec's online flag; the DFxx tags are private to this product.
TAG_ONLINE_FLAG = 0x1F11
TAG_STORED_COUNT = 0xDF01
TAG_STORED_MINOR = 0xDF02
TAG_EOD_TRANSACTIONS = 0xDF03
TAG_EOD_FORWARDED = 0xDF04
TAG_FORWARD_DECLINED = 0xDF05
TAG_ECR_REF = 0xDF20
TAG_OPERATION = 0xDF21
TAG_ORIGINAL_REF = 0xDF22

MAX_ECR_REF_BYTES = 64
CARD_TYPE_NAMES = {2: "ec-card", 5: "girocard", 6: "Mastercard", 10: "VISA"}

# ISO 4217 numeric codes for the currencies the store trades in (edge/money.py).
CURRENCY_NUMERIC: dict[str, int] = {
    "EUR": 978, "USD": 840, "GBP": 826, "CHF": 756, "CAD": 124, "AUD": 36, "SEK": 752,
    "NOK": 578, "DKK": 208, "PLN": 985, "CZK": 203, "HUF": 348, "NZD": 554, "MXN": 484,
    "BRL": 986, "ZAR": 710, "INR": 356, "CNY": 156, "JPY": 392, "KRW": 410, "ISK": 352,
    "CLP": 152, "KWD": 414, "BHD": 48, "JOD": 400, "OMR": 512, "TND": 788,
}
CURRENCY_ALPHA = {num: alpha for alpha, num in CURRENCY_NUMERIC.items()}


def currency_numeric(currency: str) -> int:
    try:
        return CURRENCY_NUMERIC[currency]
    except KeyError:
        raise ValueError(f"currency {currency!r} has no ISO 4217 numeric code here") from None


# --- ECR → terminal ----------------------------------------------------------------------------


def _password(password: str) -> bytes:
    return digits_encode(password, 3)


def _tlv(*items: Tlv) -> tuple[int, Value]:
    return (0x06, tuple(items))


def _ecr_ref_tlv(ecr_ref: str) -> Tlv:
    raw = ecr_ref.encode("utf-8")
    if not raw or len(raw) > MAX_ECR_REF_BYTES:
        raise ValueError(f"ecr_ref must be 1..{MAX_ECR_REF_BYTES} bytes")
    return Tlv(TAG_ECR_REF, raw)


def registration(password: str, config_byte: int, currency: int) -> Apdu:
    # 06 00: password, config byte, currency code without a BMP tag, then optional BMPs.
    data = _password(password) + bytes((config_byte,)) + digits_encode(f"{currency:04d}", 2)
    return Apdu(*REGISTRATION, data)


def authorization(amount_minor: int, currency: int, ecr_ref: str) -> Apdu:
    return Apdu(*AUTHORIZATION, encode_bitmaps(
        [(0x04, amount_minor), (0x49, currency), _tlv(_ecr_ref_tlv(ecr_ref))]))


def pre_authorization(amount_minor: int, currency: int, ecr_ref: str) -> Apdu:
    return Apdu(*PRE_AUTHORIZATION, encode_bitmaps(
        [(0x04, amount_minor), (0x49, currency), _tlv(_ecr_ref_tlv(ecr_ref))]))


def book_total(receipt_no: int, trace_no: int, amount_minor: int) -> Apdu:
    return Apdu(*BOOK_TOTAL, encode_bitmaps(
        [(0x87, receipt_no), (0x04, amount_minor), (0x0B, trace_no)]))


def reversal(password: str, receipt_no: int) -> Apdu:
    return Apdu(*REVERSAL, _password(password) + encode_bitmaps([(0x87, receipt_no)]))


def refund(password: str, amount_minor: int, currency: int, original: Bitmaps) -> Apdu:
    original_tlv = Tlv(TAG_ORIGINAL_REF, encode_bitmaps(original))
    return Apdu(*REFUND, _password(password) + encode_bitmaps(
        [(0x04, amount_minor), (0x49, currency), _tlv(original_tlv)]))


def repeat_receipt(password: str) -> Apdu:
    return Apdu(*REPEAT_RECEIPT, _password(password))


def status_enquiry(password: str) -> Apdu:
    return Apdu(*STATUS_ENQUIRY, _password(password))


def end_of_day(password: str) -> Apdu:
    return Apdu(*END_OF_DAY, _password(password))


def ecr_abort() -> Apdu:
    return Apdu(*ECR_ABORT)


def nak(code: int) -> Apdu:
    return Apdu(NAK_CLASS, code)


@dataclass(frozen=True, slots=True)
class Registration:
    password: str
    config_byte: int
    currency: int | None
    fields: Bitmaps


def parse_registration(apdu: Apdu) -> Registration:
    data = apdu.data
    if len(data) < 4:
        raise ZvtCodecError("registration needs a password and a config byte")
    password = digits_decode(data[:3])
    currency = None
    rest = data[4:]
    if len(rest) >= 2:  # as the spec reads: two more bytes are the currency code
        currency = int(digits_decode(rest[:2]))
        rest = rest[2:]
    return Registration(password, data[3], currency, decode_bitmaps(rest))


def split_password(apdu: Apdu) -> tuple[str, Bitmaps]:
    """Commands that start with a 3-byte BCD password, then BMPs (06 30, 06 31, 06 50 …)."""
    if len(apdu.data) < 3:
        raise ZvtCodecError(f"{apdu!r} lacks its password")
    return digits_decode(apdu.data[:3]), decode_bitmaps(apdu.data[3:])


# --- terminal → ECR ----------------------------------------------------------------------------


def status_information(fields: Bitmaps) -> Apdu:
    return Apdu(*STATUS_INFORMATION, encode_bitmaps(fields))


def intermediate_status(code: int, timeout_s: int | None = None) -> Apdu:
    data = bytes((code,)) if timeout_s is None else bytes((code, timeout_s))
    return Apdu(*INTERMEDIATE_STATUS, data)


def completion() -> Apdu:
    return Apdu(*COMPLETION)


def pt_abort(result_code: int) -> Apdu:
    return Apdu(*PT_ABORT, bytes((result_code,)))


def print_line(text: str, attribute: int = 0x00) -> Apdu:
    return Apdu(*PRINT_LINE, bytes((attribute,)) + text.encode("ascii", "replace"))


def parse_intermediate_status(apdu: Apdu) -> tuple[int, int | None]:
    """(status code, timeout in seconds the terminal asks for, if it says)."""
    if not apdu.data:
        raise ZvtCodecError("intermediate status without a status byte")
    timeout_s = apdu.data[1] if len(apdu.data) >= 2 else None
    return apdu.data[0], timeout_s


def parse_pt_abort(apdu: Apdu) -> int:
    if not apdu.data:
        raise ZvtCodecError("abort without a result code")
    return apdu.data[0]


def parse_print_line(apdu: Apdu) -> str:
    if not apdu.data:
        raise ZvtCodecError("print line without an attribute byte")
    return apdu.data[1:].decode("cp437")


def fields_dict(fields: Bitmaps) -> dict[int, Value]:
    return {tag: value for tag, value in fields}


def tlv_dict(fields: Bitmaps) -> dict[int, bytes]:
    container = fields_dict(fields).get(0x06, ())
    assert isinstance(container, tuple)
    return {item.tag: item.value for item in container}


def display_pan(masked: str) -> str:
    """The PAN as the ECR may keep it: masked digits as `*`. A terminal that sent the whole
    number (no masked digit) gets it masked here, to the first six and the last four digits
    (only the last four of a number shorter than 13), so no whole PAN goes further."""
    if "E" not in masked:
        keep = 6 if len(masked) >= 13 else 0
        masked = masked[:keep] + "E" * (len(masked) - keep - 4) + masked[-4:]
    return masked.replace("E", "*")


def expiry_of(value: Value | None) -> str | None:
    """BMP 0E (YYMM) when it is a real month; a terminal's 0000 or a month 13 is no expiry."""
    if isinstance(value, str) and len(value) == 4 and 1 <= int(value[2:]) <= 12:
        return value
    return None


@dataclass(frozen=True, slots=True)
class StatusInfo:
    """What a 04 0F status information says, typed. Missing BMPs are None."""

    result_code: int | None = None
    amount_minor: int | None = None
    currency: int | None = None
    trace_no: int | None = None
    receipt_no: int | None = None
    terminal_id: str | None = None
    masked_pan: str | None = None
    card_type: int | None = None
    card_name: str | None = None
    approval_code: str | None = None
    expiry: str | None = None  # BMP 0E, YYMM
    payment_type: int | None = None
    ecr_ref: str | None = None
    operation: int | None = None
    online: bool | None = None
    stored_count: int = 0
    stored_minor: int = 0
    eod_transactions: int = 0
    eod_forwarded: int = 0
    forward_declined: list[StatusInfo] = field(default_factory=list)

    @property
    def stored_offline(self) -> bool:
        return self.payment_type == PAYMENT_TYPE_OFFLINE

    @property
    def brand(self) -> str | None:
        if self.card_name:
            return self.card_name
        return CARD_TYPE_NAMES.get(self.card_type) if self.card_type is not None else None


def _int_or_none(value: Value | None) -> int | None:
    return value if isinstance(value, int) else None


def _str_or_none(value: Value | None) -> str | None:
    return value if isinstance(value, str) else None


def parse_status_fields(fields: Bitmaps) -> StatusInfo:
    bmp = fields_dict(fields)
    tlv = tlv_dict(fields)
    approval = bmp.get(0x3B)
    approval_code = None
    if isinstance(approval, bytes):
        approval_code = approval.rstrip(b"\x00 ").decode("ascii", "replace") or None
    try:
        declined = [parse_status_fields(decode_bitmaps(item.value))
                    for item in bmp.get(0x06, ()) if isinstance(item, Tlv)
                    and item.tag == TAG_FORWARD_DECLINED]
        ecr_ref = tlv[TAG_ECR_REF].decode("utf-8") if TAG_ECR_REF in tlv else None
    except UnicodeDecodeError:
        raise ZvtCodecError("ECR reference is not UTF-8") from None

    def tlv_int(tag: int) -> int:
        return int.from_bytes(tlv.get(tag, b""), "big")

    stored_minor = 0
    if TAG_STORED_MINOR in tlv:
        stored_minor = int(digits_decode(tlv[TAG_STORED_MINOR]) or "0")
    return StatusInfo(
        result_code=_int_or_none(bmp.get(0x27)),
        amount_minor=_int_or_none(bmp.get(0x04)),
        currency=_int_or_none(bmp.get(0x49)),
        trace_no=_int_or_none(bmp.get(0x0B)),
        receipt_no=_int_or_none(bmp.get(0x87)),
        terminal_id=_str_or_none(bmp.get(0x29)),
        masked_pan=_str_or_none(bmp.get(0x22)),
        card_type=_int_or_none(bmp.get(0x8A)),
        card_name=_str_or_none(bmp.get(0x8B)),
        approval_code=approval_code,
        expiry=expiry_of(bmp.get(0x0E)),
        payment_type=_int_or_none(bmp.get(0x19)),
        ecr_ref=ecr_ref,
        operation=tlv[TAG_OPERATION][0] if tlv.get(TAG_OPERATION) else None,
        online=bool(tlv[TAG_ONLINE_FLAG][0]) if tlv.get(TAG_ONLINE_FLAG) else None,
        stored_count=tlv_int(TAG_STORED_COUNT),
        stored_minor=stored_minor,
        eod_transactions=tlv_int(TAG_EOD_TRANSACTIONS),
        eod_forwarded=tlv_int(TAG_EOD_FORWARDED),
        forward_declined=declined,
    )


def parse_status_information(apdu: Apdu) -> StatusInfo:
    if apdu.command != STATUS_INFORMATION:
        raise ZvtCodecError(f"not a status information: {apdu!r}")
    return parse_status_fields(decode_bitmaps(apdu.data))


def approval_bytes(code: str) -> bytes:
    raw = code.encode("ascii")
    if len(raw) > 8:
        raise ZvtCodecError(f"approval code longer than 8 bytes: {code!r}")
    return raw.ljust(8, b"\x00")
