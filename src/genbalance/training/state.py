"""What a training run records: per-step metrics and events (:class:`History`).

Its own module, below the trainer, so that checkpoints and DP training can read and write a
history without importing the trainer that produces it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class History:
    """Per-step metrics (losses, grad norms, D(x)/D(G(z))) and training events."""

    steps: list[dict[str, float]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    rollbacks: int = 0
    stopped_early: str | None = None
    seconds: float = 0.0
    health: dict[str, Any] = field(default_factory=dict)
    privacy: dict[str, Any] = field(default_factory=dict)  # epsilon spent etc. (DP training)

    def series(self, key: str) -> list[float]:
        return [s[key] for s in self.steps if key in s]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> History:
        return cls(**d)
