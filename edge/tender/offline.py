"""Offline card policy (store-and-forward): may this card payment be stored on the terminal
while the processor link is down? Pure; the limits come from `[tender]` config.

A payment is admitted offline only when all hold:
- its amount is at most the per-transaction floor limit;
- the store's stored-but-not-forwarded total plus this amount stays within the cap;
- no stored payment is older than the upload window (24 h by default): the link has been down
  too long to keep taking risk.
A stored payment older than the maximum age (72 h by default) can no longer be forwarded: it is
expired and raised as a forward decline (a follow-up, never dropped).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import DomainError


class OfflineRefused(DomainError):
    status, slug, title = 409, "card-offline-refused", "The card cannot be taken offline"
    exit_code = 2


@dataclass(frozen=True, slots=True)
class OfflinePolicy:
    floor_limit_minor: int
    cap_minor: int
    upload_within_ms: int
    max_age_ms: int


@dataclass(frozen=True, slots=True)
class StoredSummary:
    count: int
    amount_minor: int
    oldest_stored_at_ms: int | None


def admit(policy: OfflinePolicy, stored: StoredSummary, amount_minor: int, now_ms: int) -> None:
    """Raises OfflineRefused with the reason when the payment may not be stored."""
    if amount_minor > policy.floor_limit_minor:
        raise OfflineRefused(
            f"the card terminal is offline and {amount_minor} exceeds the offline floor limit "
            f"of {policy.floor_limit_minor}: take another tender or wait for the link")
    if stored.amount_minor + amount_minor > policy.cap_minor:
        raise OfflineRefused(
            f"the card terminal is offline and the store already holds {stored.amount_minor} in "
            f"stored card payments; the cap is {policy.cap_minor}: take another tender")
    if (stored.oldest_stored_at_ms is not None
            and now_ms - stored.oldest_stored_at_ms > policy.upload_within_ms):
        raise OfflineRefused(
            "the card terminal has been offline longer than the upload window; stored "
            "payments must be forwarded before more cards are taken offline")


def expired(policy: OfflinePolicy, stored_at_ms: int, now_ms: int) -> bool:
    return now_ms - stored_at_ms > policy.max_age_ms
