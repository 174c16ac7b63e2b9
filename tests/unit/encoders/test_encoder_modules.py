"""Layout promises of the encoders/ and data/ re-layout: old import paths, small modules,
no private name imported across modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[3] / "src" / "genbalance"
OWNED = [
    *sorted((SRC / "encoders").glob("*.py")),
    *sorted((SRC / "data").glob("*.py")),
    SRC / "schema.py",
    SRC / "bench" / "encoding.py",
    *(SRC / "evaluation" / f"{m}.py" for m in ("features", "fidelity", "privacy", "utility")),
]


def test_old_import_paths_still_work():
    from genbalance.bench.encoding import OneHotMinMax, nominal_columns  # noqa: F401
    from genbalance.encoders.tabular import TabularEncoder  # noqa: F401
    from genbalance.evaluation.features import (  # noqa: F401
        MISSING_TOKEN,
        as_category_strings,
        as_numbers,
        check_same_columns,
        encode_pair,
        make_encoder,
        normalise_frame,
        split_columns,
    )
    from genbalance.schema import (  # noqa: F401
        ColumnKind,
        ColumnSpec,
        as_frame,
        check_finite,
        check_labels,
        check_X_y,
        infer_schema,
        resolve_categorical,
        restore_labels,
        restore_output,
        validate_frame,
    )


@pytest.mark.parametrize("path", OWNED, ids=lambda p: str(p.relative_to(SRC)))
def test_module_is_small_and_imports_no_private_names(path):
    text = path.read_text()
    assert len(text.splitlines()) <= 450, "split the module"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("genbalance"):
            private = [a.name for a in node.names if a.name.startswith("_")]
            assert not private, f"{path.name} imports {private} from {node.module}"
