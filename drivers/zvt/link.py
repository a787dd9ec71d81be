"""APDU links: whole ZVT APDUs in and out over a byte `Transport`.

`TcpApduLink` sends APDUs bare and cuts the byte stream at APDU boundaries. `SerialApduLink`
wraps each APDU in a DLE STX … DLE ETX CRC frame, acknowledges every good frame with ACK,
refuses damaged ones with NAK, and repeats its own frames until the peer ACKs them (at most
`MAX_TRANSMISSIONS` in all). Both ends of the conversation use these classes: the driver on the
ECR side, the emulator on the terminal side.

Failure contract: `receive` raises `TransportError(timeout=True)` when no APDU *starts* within
its timeout (the stream is still aligned and the link still usable); any other failure, a
frame cut short or a broken link, raises `TransportError(timeout=False)` after closing the
transport, because the byte stream can no longer be trusted.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Protocol

from drivers.transports import Transport, TransportError
from drivers.zvt.codec import Apdu, apdu_size, decode_apdu, encode_apdu
from drivers.zvt.framing import (
    ACK,
    MAX_TRANSMISSIONS,
    NAK,
    Control,
    Frame,
    FrameParser,
    encode_frame,
)

READ_CHUNK = 4096


class ApduLink(Protocol):
    transport: Transport

    def send(self, apdu: Apdu) -> None: ...
    def receive(self, timeout_s: float) -> Apdu: ...


class TcpApduLink:
    def __init__(self, transport: Transport, frame_timeout_s: float = 5.0) -> None:
        self.transport = transport
        self.frame_timeout_s = frame_timeout_s
        self._buf = bytearray()

    def send(self, apdu: Apdu) -> None:
        self.transport.write(encode_apdu(apdu))

    def reset(self) -> None:
        self._buf.clear()

    def receive(self, timeout_s: float) -> Apdu:
        deadline = time.monotonic() + timeout_s
        while True:
            size = apdu_size(self._buf)
            if size is not None and len(self._buf) >= size:
                raw = bytes(self._buf[:size])
                del self._buf[:size]
                return decode_apdu(raw)
            started = bool(self._buf)
            if started:
                # Part of an APDU is here: the rest must follow promptly or the stream is lost.
                deadline = max(deadline, time.monotonic() + self.frame_timeout_s)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if started:
                    self._broken("APDU cut short")
                raise TransportError("no APDU within the timeout", timeout=True)
            try:
                self._buf += self.transport.read(READ_CHUNK, remaining)
            except TransportError as exc:
                if not exc.timeout:
                    self._buf.clear()
                    raise
                if self._buf:
                    self._broken("APDU cut short")

    def _broken(self, why: str) -> None:
        self._buf.clear()
        self.transport.close()
        raise TransportError(why)


class SerialApduLink:
    def __init__(self, transport: Transport, ack_timeout_s: float = 2.0,
                 frame_timeout_s: float = 5.0) -> None:
        self.transport = transport
        self.ack_timeout_s = ack_timeout_s
        self.frame_timeout_s = frame_timeout_s
        self._parser = FrameParser()
        self._controls: deque[int] = deque()
        self._apdus: deque[bytes] = deque()

    def reset(self, drain_s: float = 0.05) -> None:
        """Forget partial frames and discard bytes left on the line by an earlier session
        (a serial port keeps what arrived while nobody listened)."""
        while self.transport.is_open:
            try:
                self.transport.read(READ_CHUNK, drain_s)
            except TransportError:
                break
        self._parser = FrameParser()
        self._controls.clear()
        self._apdus.clear()

    def _pump(self, timeout_s: float) -> None:
        """Read what arrives within `timeout_s`, answer frames, queue APDUs and controls."""
        data = self.transport.read(READ_CHUNK, timeout_s)
        for event in self._parser.feed(data):
            if isinstance(event, Control):
                self._controls.append(event.byte)
            elif isinstance(event, Frame):
                if event.apdu is None:
                    self.transport.write(bytes((NAK,)))
                else:
                    self.transport.write(bytes((ACK,)))
                    self._apdus.append(event.apdu)

    def send(self, apdu: Apdu) -> None:
        frame = encode_frame(encode_apdu(apdu))
        for _attempt in range(MAX_TRANSMISSIONS):
            self._controls.clear()
            self.transport.write(frame)
            deadline = time.monotonic() + self.ack_timeout_s
            while True:
                if self._controls:
                    if self._controls.popleft() == ACK:
                        return
                    break  # NAK: send again
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    self._pump(remaining)
                except TransportError as exc:
                    if not exc.timeout:
                        raise
        self.transport.close()
        raise TransportError(f"no ACK after {MAX_TRANSMISSIONS} transmissions")

    def receive(self, timeout_s: float) -> Apdu:
        deadline = time.monotonic() + timeout_s
        while not self._apdus:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TransportError("no frame within the timeout", timeout=True)
            try:
                self._pump(remaining)
            except TransportError as exc:
                if not exc.timeout:
                    raise
        return decode_apdu(self._apdus.popleft())
