"""Judge synthetic data: fidelity to the real data, usefulness for training, privacy risk."""

from genbalance.metrics.fidelity import (
    column_pair_trends,
    column_shapes,
    contingency_similarity,
    correlation_similarity,
    detection_score,
    fidelity_report,
    ks_complement,
    tv_complement,
)

__all__ = [
    "column_pair_trends",
    "column_shapes",
    "contingency_similarity",
    "correlation_similarity",
    "detection_score",
    "fidelity_report",
    "ks_complement",
    "tv_complement",
]
