"""What a training run records: per-step metrics and events (:class:`History`).

Its own module, below the trainer, so that checkpoints and DP training can read and write a
history without importing the trainer that produces it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


def _short(value: Any) -> str:
    """A number as a few significant digits (the repr is read, not parsed)."""
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.4g}"
    return str(value)


@dataclass(repr=False)
class History:
    """Per-step metrics (losses, grad norms, D(x)/D(G(z))) and training events.

    ``repr`` is a one-line summary (a run keeps thousands of steps); :meth:`to_frame` gives
    every step as a table.
    """

    steps: list[dict[str, float]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    rollbacks: int = 0
    stopped_early: str | None = None
    seconds: float = 0.0
    health: dict[str, Any] = field(default_factory=dict)
    privacy: dict[str, Any] = field(default_factory=dict)  # epsilon spent etc. (DP training)

    def __repr__(self) -> str:
        """Steps, time, last losses, why it stopped and what privacy it spent: one line."""
        n = len(self.steps)
        parts = [f"{n} step{'' if n == 1 else 's'} in {self.seconds:.1f} s"]
        last = self.steps[-1] if self.steps else {}
        losses = [f"{k}={_short(v)}" for k, v in last.items() if k.startswith("loss")]
        if losses:
            parts.append("last " + ", ".join(losses))
        if self.stopped_early:
            parts.append(f"stopped: {self.stopped_early}")
        if self.rollbacks:
            parts.append(f"{self.rollbacks} rollback{'' if self.rollbacks == 1 else 's'}")
        if self.health.get("any_collapsed"):
            parts.append(f"collapsed classes {self.health.get('collapsed_classes')}")
        if self.privacy.get("epsilon") is not None:
            delta = self.privacy.get("delta")
            spent = f"epsilon {_short(self.privacy['epsilon'])}"
            parts.append(spent + (f" (delta {delta:.2g})" if isinstance(delta, float) else ""))
        return f"History({'; '.join(parts)})"

    def series(self, key: str) -> list[float]:
        """One metric over the steps that recorded it (e.g. ``"loss_g"``)."""
        return [s[key] for s in self.steps if key in s]

    def to_frame(self) -> pd.DataFrame:
        """The per-step records as a DataFrame, one row per step (pandas imported here only:
        the trainer itself does not need it)."""
        import pandas as pd

        frame = pd.DataFrame.from_records(self.steps)
        if "step" in frame.columns:
            frame = frame.set_index("step")
        return frame

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> History:
        return cls(**d)
