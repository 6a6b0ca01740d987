"""Fractions of fen appear only here. Rates are integer basis points (10000 = 100%)."""

from collections.abc import Sequence

BASIS_POINTS = 10_000


def mul_div_round_half_up(fen: int, numerator: int, denominator: int) -> int:
    """fen * numerator / denominator rounded half up, in integers only."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    return (2 * fen * numerator + denominator) // (2 * denominator)


def allocate(total_fen: int, weights: Sequence[int]) -> list[int]:
    """Split total_fen in proportion to weights; the last positive weight takes the remainder,
    so the parts always add up to the total (a line refund is then exact)."""
    if not weights:
        return []
    weight_sum = sum(weights)
    if weight_sum <= 0:
        parts = [0] * len(weights)
        parts[-1] = total_fen
        return parts
    last = max(i for i, w in enumerate(weights) if w > 0)
    parts = [0] * len(weights)
    for i, weight in enumerate(weights):
        if i != last:
            parts[i] = total_fen * weight // weight_sum
    parts[last] = total_fen - sum(parts)
    return parts


def yuan(fen: int) -> str:
    """Display only: 1999 -> '19.99'."""
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def allocate_capped(total_fen: int, weights: Sequence[int], caps: Sequence[int]) -> list[int]:
    """`allocate`, then move any part above its line's cap to the other lines (last first), so
    no line's discount exceeds what the line has left. Requires total_fen ≤ Σ caps."""
    if total_fen > sum(caps):
        raise ValueError("cannot allocate more than the lines have left")
    # Lines that cannot take anything get no weight (unless no line has weight left).
    usable = [w if cap > 0 else 0 for w, cap in zip(weights, caps, strict=True)]
    parts = allocate(total_fen, usable if sum(usable) > 0 else caps)
    excess = 0
    for i, cap in enumerate(caps):
        if parts[i] > cap:
            excess += parts[i] - cap
            parts[i] = cap
    for i in reversed(range(len(parts))):
        if not excess:
            break
        take = min(excess, caps[i] - parts[i])
        parts[i] += take
        excess -= take
    return parts
