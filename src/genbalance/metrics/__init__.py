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
from genbalance.metrics.utility import default_classifiers, rebalancing_gain, tstr

__all__ = [
    "column_pair_trends",
    "column_shapes",
    "contingency_similarity",
    "correlation_similarity",
    "default_classifiers",
    "detection_score",
    "fidelity_report",
    "ks_complement",
    "rebalancing_gain",
    "tstr",
    "tv_complement",
]
