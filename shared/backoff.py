"""Exponential backoff with jitter, for every retry Jarvis makes (a stage's job, a tool call)."""

from __future__ import annotations

import random

BACKOFF_BASE = 1.0
BACKOFF_MAX = 30.0


def backoff_delay(attempt: int, base: float = BACKOFF_BASE, cap: float = BACKOFF_MAX) -> float:
    """Seconds to wait before the try after `attempt`: base·2^(attempt-1), capped, times a
    random factor in [0.5, 1.5) so that many retries do not arrive together."""
    return min(cap, base * 2 ** (attempt - 1)) * random.uniform(0.5, 1.5)
