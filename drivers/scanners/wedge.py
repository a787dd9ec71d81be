"""Keyboard-wedge decoding: a scanner that types its codes as a USB HID keyboard.

A boot-protocol keyboard report is 8 bytes: modifier bits, a reserved byte, then up to six key
usage codes held down. A character is typed when its usage appears in a report that did not
hold it before; Enter (or keypad Enter) ends a code. Which character a usage types depends on
the keyboard layout the scanner is set to, hence the layout tables (US and German here; a
scanner set to another layout needs its table). Pure: `WedgeDecoder.feed` folds reports into
codes; `encode` is the scanner's side, used by tests and the demo.
"""

from __future__ import annotations

from dataclasses import dataclass, field

REPORT_BYTES = 8
ENTER, KEYPAD_ENTER = 0x28, 0x58
SHIFT_BITS = 0x02 | 0x20  # left and right shift
ALTGR_BIT = 0x40  # right alt
ROLLOVER_ERROR = 0x01

Level = int  # 0 plain, 1 shift, 2 AltGr


def _table(rows: dict[int, str]) -> dict[tuple[int, Level], str]:
    """{usage: "plain shifted [altgr]"} -> {(usage, level): char}; '·' marks "nothing"."""
    out: dict[tuple[int, Level], str] = {}
    for usage, chars in rows.items():
        for level, ch in enumerate(chars):
            if ch != "·":
                out[(usage, level)] = ch
    return out


_LETTERS = {0x04 + i: c + c.upper() for i, c in enumerate("abcdefghijklmnopqrstuvwxyz")}
_KEYPAD = {0x54: "/", 0x55: "*", 0x56: "-", 0x57: "+", 0x59: "1", 0x5A: "2", 0x5B: "3",
           0x5C: "4", 0x5D: "5", 0x5E: "6", 0x5F: "7", 0x60: "8", 0x61: "9", 0x62: "0",
           0x63: "."}

US: dict[tuple[int, Level], str] = _table({
    **_LETTERS,
    0x1E: "1!", 0x1F: "2@", 0x20: "3#", 0x21: "4$", 0x22: "5%", 0x23: "6^", 0x24: "7&",
    0x25: "8*", 0x26: "9(", 0x27: "0)", 0x2C: "  ", 0x2D: "-_", 0x2E: "=+", 0x2F: "[{",
    0x30: "]}", 0x31: "\\|", 0x33: ";:", 0x34: "'\"", 0x35: "`~", 0x36: ",<", 0x37: ".>",
    0x38: "/?", 0x2B: "\t\t",
})

DE: dict[tuple[int, Level], str] = _table({
    **_LETTERS,
    0x1C: "zZ", 0x1D: "yY",  # QWERTZ
    0x14: "qQ@", 0x08: "eE€", 0x10: "mMµ",
    0x1E: "1!", 0x1F: "2\"²", 0x20: "3§³", 0x21: "4$", 0x22: "5%", 0x23: "6&", 0x24: "7/{",
    0x25: "8([", 0x26: "9)]", 0x27: "0=}", 0x2C: "  ", 0x2D: "ß?\\", 0x2E: "´`",
    0x2F: "üÜ", 0x30: "+*~", 0x32: "#'", 0x33: "öÖ", 0x34: "äÄ", 0x35: "^°",
    0x36: ",;", 0x37: ".:", 0x38: "-_", 0x64: "<>|", 0x2B: "\t\t",
})

LAYOUTS: dict[str, dict[tuple[int, Level], str]] = {"us": US, "de": DE}


def _reverse(table: dict[tuple[int, Level], str]) -> dict[str, tuple[int, Level]]:
    out: dict[str, tuple[int, Level]] = {}
    for key, ch in sorted(table.items()):
        out.setdefault(ch, key)
    return out


def layout(name: str) -> dict[tuple[int, Level], str]:
    try:
        return LAYOUTS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown keyboard layout {name!r} (known: {', '.join(LAYOUTS)})") from None


def typeable(layout_name: str) -> str:
    """Every character the layout can type (for tests and configuration checks)."""
    return "".join(sorted(set(layout(layout_name).values()) - {"\t"}))


def _level(modifiers: int) -> Level:
    if modifiers & ALTGR_BIT:
        return 2
    return 1 if modifiers & SHIFT_BITS else 0


@dataclass
class WedgeDecoder:
    layout_name: str = "us"
    _held: frozenset[int] = frozenset()
    _current: list[str] = field(default_factory=list)
    unmapped: int = 0

    def __post_init__(self) -> None:
        self._table = dict(layout(self.layout_name))
        # Keypad keys type the same on every layout (scanners in "keypad emulation" use them).
        for usage, ch in _KEYPAD.items():
            self._table.setdefault((usage, 0), ch)
            self._table.setdefault((usage, 1), ch)

    def reset(self) -> None:
        self._held, self._current = frozenset(), []

    def feed(self, report: bytes) -> list[str]:
        """Codes completed by this report (usually none or one)."""
        if len(report) < REPORT_BYTES:
            raise ValueError(f"a boot keyboard report has {REPORT_BYTES} bytes, got {len(report)}")
        modifiers, keys = report[0], [k for k in report[2:REPORT_BYTES] if k]
        if any(k == ROLLOVER_ERROR for k in keys):
            return []  # phantom state: keep the previous held set, type nothing
        done: list[str] = []
        for usage in keys:
            if usage in self._held:
                continue
            if usage in (ENTER, KEYPAD_ENTER):
                if self._current:
                    done.append("".join(self._current))
                self._current = []
                continue
            ch = self._table.get((usage, _level(modifiers)))
            if ch is None:
                self.unmapped += 1
            else:
                self._current.append(ch)
        self._held = frozenset(keys)
        return done


def encode(code: str, layout_name: str = "us") -> list[bytes]:
    """The reports a wedge scanner sends for `code`: press and release per character, then
    Enter. Raises ValueError for a character the layout cannot type."""
    rev = _reverse(layout(layout_name))
    reports: list[bytes] = []
    release = bytes(REPORT_BYTES)
    for ch in code:
        if ch not in rev:
            raise ValueError(f"{ch!r} cannot be typed on the {layout_name} layout")
        usage, level = rev[ch]
        modifiers = (0, 0x02, ALTGR_BIT)[level]
        reports.append(bytes([modifiers, 0, usage, 0, 0, 0, 0, 0]))
        reports.append(release)
    reports.append(bytes([0, 0, ENTER, 0, 0, 0, 0, 0]))
    reports.append(release)
    return reports
