"""Money arithmetic: integer minor units only, one rounding rule.

The rule: divide and round half away from zero ("half-up" for positive amounts), applied per
line. Every place that divides money calls `div_round_half_up`; nothing else rounds.
"""

from __future__ import annotations

# ISO 4217 minor-unit exponents for the currencies we trade in; anything else is refused.
CURRENCY_EXPONENTS: dict[str, int] = {
    "EUR": 2, "USD": 2, "GBP": 2, "CHF": 2, "CAD": 2, "AUD": 2, "SEK": 2, "NOK": 2, "DKK": 2,
    "PLN": 2, "CZK": 2, "HUF": 2, "NZD": 2, "MXN": 2, "BRL": 2, "ZAR": 2, "INR": 2, "CNY": 2,
    "JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "KWD": 3, "BHD": 3, "JOD": 3, "OMR": 3, "TND": 3,
}


def div_round_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded to the nearest integer, halves away from zero."""
    assert denominator > 0, "denominator must be positive"
    sign = -1 if numerator < 0 else 1
    quotient, remainder = divmod(abs(numerator), denominator)
    if remainder * 2 >= denominator:
        quotient += 1
    return sign * quotient


def allocate(total: int, weights: list[int]) -> list[int]:
    """Split `total` over `weights` pro rata; the parts always sum exactly to `total`.

    Largest-remainder method; ties go to the earlier weight, so the split is deterministic.
    """
    assert total >= 0 and all(w >= 0 for w in weights)
    weight_sum = sum(weights)
    if not weights:
        assert total == 0, "cannot allocate a non-zero amount over nothing"
        return []
    if weight_sum == 0:
        parts = [0] * len(weights)
        parts[0] = total
        return parts
    parts = [total * w // weight_sum for w in weights]
    remainders = [(total * w % weight_sum, -i) for i, w in enumerate(weights)]
    short = total - sum(parts)
    for _, neg_index in sorted(remainders, reverse=True)[:short]:
        parts[-neg_index] += 1
    assert sum(parts) == total
    return parts


def format_minor(amount_minor: int, currency: str) -> str:
    exponent = CURRENCY_EXPONENTS[currency]
    if exponent == 0:
        return f"{amount_minor} {currency}"
    sign = "-" if amount_minor < 0 else ""
    whole, frac = divmod(abs(amount_minor), 10**exponent)
    return f"{sign}{whole}.{frac:0{exponent}d} {currency}"
