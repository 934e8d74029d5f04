"""Per-key request budgets: a token bucket per API key, checked on every authenticated call.

OWASP API4 (unrestricted resource consumption): one runaway or abusive client must not take
the service from the others. Each key may make ``rate`` requests per second on average and
``burst`` in a row; beyond that it gets 429 with ``Retry-After`` (when its next request
fits). The check is on the request path of every endpoint, so it is a dictionary lookup and
a few float operations (~0.3 µs), in the serving process's memory: the single uvicorn worker
sees every request, and a restart forgives what was spent.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from stockpilot.errors import RateLimited


class RateLimiter:
    """Token buckets by key: ``take(key)`` spends one token or raises :class:`RateLimited`."""

    def __init__(
        self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be > 0 requests/s, got {rate}")
        if burst < 1:
            raise ValueError(f"burst must be >= 1 request, got {burst}")
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, list[float]] = {}  # key -> [tokens, at]
        self.limited = 0  # requests refused, for /metrics

    def take(self, key: str) -> None:
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = [self.burst, now]
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens < 1.0:
            bucket[0] = tokens
            self.limited += 1
            raise RateLimited(
                f"rate limit of this API key reached ({self.rate:g} requests/s, bursts of "
                f"{self.burst:g}); retry after the Retry-After header's seconds",
                retry_after=(1.0 - tokens) / self.rate,
                limit_per_second=self.rate,
                burst=self.burst,
            )
        bucket[0] = tokens - 1.0
