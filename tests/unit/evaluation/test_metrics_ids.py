"""ID columns in the metrics: generated IDs are new by design, so they are not features.

Compared as features they made every generator look unfaithful and, worse, hid copied rows
from the copy check and the distances (a copy with a new ID was "no copy").
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genbalance.evaluation import fidelity_report, privacy_report
from genbalance.evaluation.features import without_ids
from genbalance.evaluation.report_metrics import evaluate_tables


def _tables(n: int = 120) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    real = pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "x": rng.normal(size=n),
            "shop": rng.choice(["a", "b", "c"], n),
        }
    )
    copies = real.assign(customer_id=np.arange(10**6, 10**6 + n))  # real rows, new IDs
    holdout = pd.DataFrame(
        {
            "customer_id": np.arange(n, 2 * n),
            "x": rng.normal(size=n),
            "shop": rng.choice(["a", "b", "c"], n),
        }
    )
    return real, copies, holdout, np.where(np.arange(n) < 30, "rare", "common")


def test_copies_with_new_ids_are_still_copies():
    real, copies, holdout, _ = _tables()
    found = privacy_report(real, copies, holdout)
    assert found["exact_copies"] == len(real) and found["dcr_median"] == 0.0
    assert found["mia_auc"] == pytest.approx(1.0)
    blind = privacy_report(real, copies, holdout, id_columns=None)  # the old behaviour
    assert blind["exact_copies"] == 0 and blind["dcr_median"] > 1.0


def test_fidelity_ignores_id_columns_and_names_them():
    real, copies, _, y = _tables()
    report = fidelity_report(real, copies, y, y, detection=False)
    assert report.attrs["id_columns"] == ["customer_id"]
    assert report["column_shapes"].tolist() == pytest.approx([1.0, 1.0, 1.0])
    compared = fidelity_report(real, copies, y, y, detection=False, id_columns=None)
    assert compared.loc[0, "column_shapes"] < 0.7  # the IDs alone pull it down


def test_listed_ids_and_positional_categoricals_survive_the_drop():
    real, copies, _, _ = _tables()
    real = real.assign(code=np.arange(len(real)) % 4)  # an integer column, categorical by position
    copies = copies.assign(code=real["code"])
    kept, (other,), categorical, ids = without_ids(real, [copies], [3], ["customer_id"])
    assert ids == ["customer_id"] and list(kept.columns) == ["x", "shop", "code"]
    assert categorical == ["shop", "code"] and list(other.columns) == list(kept.columns)
    with pytest.raises(ValueError, match="unknown column"):
        without_ids(real, [copies], None, ["nope"])


def test_only_ids_is_refused():
    frame = pd.DataFrame({"row_id": np.arange(50)})
    with pytest.raises(ValueError, match="every column is an ID"):
        privacy_report(frame, frame + 100)


def test_evaluate_tables_notes_the_left_out_ids():
    real, copies, holdout, y = _tables()
    seen: list[str] = []
    result = evaluate_tables(
        real, y, copies, y, holdout, y, detection=False, random_state=0, progress=seen.append
    )
    assert any("customer_id" in note for note in result["utility"]["notes"])
    assert result["privacy"]["exact_copies"] == len(real)
    assert [m for m in seen if m.endswith("...")][0].startswith("[1/4] fidelity")
    assert sum(m.startswith("[") and "done in" in m for m in seen) == 4
