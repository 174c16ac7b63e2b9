"""Judge synthetic data: fidelity to the real data, usefulness for training, privacy risk."""

from genbalance.evaluation.fidelity import (
    column_pair_trends,
    column_shapes,
    contingency_similarity,
    correlation_similarity,
    detection_score,
    fidelity_report,
    ks_complement,
    tv_complement,
)
from genbalance.evaluation.privacy import (
    dcr,
    exact_copies,
    membership_inference,
    privacy_report,
    remove_exact_copies,
)
from genbalance.evaluation.utility import default_classifiers, rebalancing_gain, tstr

__all__ = [
    "column_pair_trends",
    "column_shapes",
    "contingency_similarity",
    "correlation_similarity",
    "dcr",
    "default_classifiers",
    "detection_score",
    "exact_copies",
    "fidelity_report",
    "ks_complement",
    "membership_inference",
    "privacy_report",
    "rebalancing_gain",
    "remove_exact_copies",
    "tstr",
    "tv_complement",
]
