"""The contract between encoders and models: which slice of an encoded row is what.

An encoder describes its output as a list of :class:`OutputSpan`; a model builds its output
activations from the same list. Both import it from here, so neither imports the other.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Activation = Literal["tanh", "sigmoid", "softmax", "linear"]


@dataclass(frozen=True)
class OutputSpan:
    """A contiguous slice of the encoded vector and the activation that produces it.

    ``softmax`` spans are one-hot groups (categories, GMM modes); ``tanh`` spans are scalars in
    [-1, 1]; ``sigmoid`` spans are in [0, 1] (pixels, indicators); ``linear`` is unbounded.
    """

    size: int
    activation: Activation

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def default_spans(data_dim: int, activation: Activation = "linear") -> list[OutputSpan]:
    """One span per column: used when the caller gives raw numeric tensors with no encoder."""
    return [OutputSpan(1, activation) for _ in range(data_dim)]
