"""What each column is, validation of user input, and restoring the caller's container.

The public face of three modules, kept so ``from genbalance.schema import ...`` goes on working:

- :mod:`genbalance.data.kinds`: column kinds, the one categorical-detection rule
  (:func:`categorical_by_default`), :func:`resolve_categorical` and :func:`infer_schema`;
- :mod:`genbalance.data.validation`: input checks with errors meant for people
  (:func:`validate_frame`, :func:`check_X_y`, :func:`check_labels`, :func:`as_frame`, the one
  "same columns" check :func:`check_columns`);
- :mod:`genbalance.data.restore`: :func:`restore_output` and :func:`restore_labels`.

The rules of what each column is are written once, in :mod:`genbalance.data.kinds`.
"""

from __future__ import annotations

from genbalance.data.kinds import (
    ColumnKind,
    ColumnSpec,
    as_str_values,
    categorical_by_default,
    dtype_family,
    infer_schema,
    resolve_categorical,
)
from genbalance.data.restore import restore_labels, restore_output
from genbalance.data.validation import (
    as_frame,
    check_columns,
    check_finite,
    check_labels,
    check_X_y,
    refuse_duplicate_columns,
    validate_frame,
)

__all__ = [
    "ColumnKind",
    "ColumnSpec",
    "as_frame",
    "as_str_values",
    "categorical_by_default",
    "check_X_y",
    "check_columns",
    "check_finite",
    "check_labels",
    "dtype_family",
    "infer_schema",
    "refuse_duplicate_columns",
    "resolve_categorical",
    "restore_labels",
    "restore_output",
    "validate_frame",
]
