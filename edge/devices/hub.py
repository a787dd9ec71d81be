"""The live device stream: attach/detach, state changes and scans, fanned out to subscribers.

Each subscriber (a lane's SSE connection, or the admin `watch`) has a bounded queue. Publishing
never blocks the loop: a subscriber that falls `QUEUE_MAX` events behind is dropped and its
stream ends with an `overflow` event, so the lane reconnects and re-reads the snapshot instead
of silently missing a scan. Lane subscribers see events addressed to their lane; the admin
subscriber (`lane_id=None`) sees everything.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field

import msgspec

QUEUE_MAX = 256
_encoder = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class StreamEvent:
    id: int
    type: str
    data: bytes
    lane_id: str | None


@dataclass(eq=False)
class Subscription:
    lane_id: str | None
    queue: asyncio.Queue[StreamEvent | None] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_MAX))
    overflowed: bool = False


class EventHub:
    def __init__(self) -> None:
        self._subs: set[Subscription] = set()
        self._ids = itertools.count(1)

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def subscribe(self, lane_id: str | None) -> Subscription:
        sub = Subscription(lane_id)
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    def publish(self, event_type: str, payload: object, lane_id: str | None) -> StreamEvent:
        """Must run on the loop thread. `lane_id` None: only admin subscribers get it."""
        event = StreamEvent(next(self._ids), event_type, _encoder.encode(payload), lane_id)
        for sub in list(self._subs):
            if sub.lane_id is not None and sub.lane_id != lane_id:
                continue
            try:
                sub.queue.put_nowait(event)
            except asyncio.QueueFull:
                sub.overflowed = True
                self._subs.discard(sub)
                # Make room for the end marker so the reader wakes up and closes.
                sub.queue.get_nowait()
                sub.queue.put_nowait(None)
        return event

    def close_all(self) -> None:
        for sub in list(self._subs):
            self._subs.discard(sub)
            try:
                sub.queue.put_nowait(None)
            except asyncio.QueueFull:
                sub.queue.get_nowait()
                sub.queue.put_nowait(None)
