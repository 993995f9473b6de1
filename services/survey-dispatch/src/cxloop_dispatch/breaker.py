"""Circuit breakers per provider, and the retry delay after a failed send.

A provider that keeps failing (an SMTP relay down, an API answering 5xx) is not
hammered by every due invitation: after `threshold` failures in a row its circuit
opens for `cooldown`, sends on it wait until then without calling it, and the
first send after the cooldown probes it. A success closes it again. State is per
dispatcher process: each process learns on its own, which needs no coordination
and is enough to keep the load off a sick provider.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from prometheus_client import Counter, Gauge

OPENED = Counter("cxloop_circuit_opened_total", "Circuits opened, by channel", ["channel"])
OPEN_NOW = Gauge("cxloop_circuits_open", "Provider circuits open at the last check")


@dataclass(slots=True)
class _Circuit:
    failures: int = 0
    open_until: datetime | None = None


@dataclass(slots=True)
class CircuitBreakers:
    """One circuit per provider key (workspace and channel)."""

    threshold: int = 5
    cooldown: timedelta = timedelta(seconds=30)
    _circuits: dict[str, _Circuit] = field(default_factory=dict)

    def open_until(self, key: str, now: datetime) -> datetime | None:
        """When the circuit for `key` lets sends through again; None if it does now."""
        OPEN_NOW.set(sum(1 for c in self._circuits.values() if c.open_until and c.open_until > now))
        circuit = self._circuits.get(key)
        if circuit is None or circuit.open_until is None or circuit.open_until <= now:
            return None
        return circuit.open_until

    def succeeded(self, key: str) -> None:
        """A send went through: the provider is healthy."""
        self._circuits.pop(key, None)

    def failed(self, key: str, now: datetime) -> None:
        """A send failed in a way that says the provider is unwell (timeouts, 429, 5xx)."""
        circuit = self._circuits.setdefault(key, _Circuit())
        circuit.failures += 1
        if circuit.failures >= self.threshold:
            circuit.open_until = now + self.cooldown
            circuit.failures = 0
            OPENED.labels(key.partition(":")[2]).inc()


def retry_delay(
    attempt: int,
    *,
    retry_after: float | None,
    base: timedelta = timedelta(seconds=10),
    cap: timedelta = timedelta(hours=1),
    rng: random.Random | None = None,
) -> timedelta:
    """Exponential backoff with full jitter, never sooner than the provider asked.

    Jitter spreads retries of many invitations that failed together, so a provider
    coming back is not hit by all of them at once.
    """
    ceiling = min(base * 2 ** max(attempt - 1, 0), cap)
    jittered = ceiling * (rng or random).uniform(0.5, 1.0)
    asked = timedelta(seconds=retry_after) if retry_after else timedelta(0)
    return max(jittered, asked)
