"""Writing a report into a folder: no file replaced without force, stale figures removed with
it (only the report's own), and optional progress messages."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from genbalance.evaluation.report import SECTIONS, build_report
from genbalance.evaluation.report_output import (
    linked_figures,
    remove_stale_figures,
    safe_file_part,
    unique_names,
)

FAST = {"logistic_regression": LogisticRegression()}


def table(n: int, seed: int, labels=("a", "b")):
    rng = np.random.default_rng(seed)
    y = rng.choice(list(labels), n).astype(object)
    X = pd.DataFrame({"v": rng.normal(size=n), "k": rng.choice(["p", "q"], n)})
    return X, y


def report(out, labels, **kwargs):
    X, y = table(120, 0, labels)
    S, sy = table(90, 1, labels)
    return build_report(out, X, y, S, sy, classifiers=FAST, detection=False, **kwargs)


def test_force_removes_the_earlier_reports_stale_figures_only(tmp_path):
    report(tmp_path, ("a", "b"))
    assert (tmp_path / "marginals_class_b.png").is_file()
    (tmp_path / "holiday.png").write_bytes(b"mine")  # the user's files, never touched
    (tmp_path / "marginals_class_zzz.png").write_bytes(b"mine too")  # report-like, not linked
    (tmp_path / "notes.txt").write_text("keep")
    written = report(tmp_path, ("a", "c"), force=True)
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert "marginals_class_b.png" not in pngs  # stale: the first report's class b
    assert {"marginals_class_a.png", "marginals_class_c.png"} <= set(pngs)
    assert (tmp_path / "holiday.png").read_bytes() == b"mine"
    assert (tmp_path / "marginals_class_zzz.png").read_bytes() == b"mine too"
    assert (tmp_path / "notes.txt").read_text() == "keep"
    assert set(pngs) == {p.name for p in written.values() if p.suffix == ".png"} | {
        "holiday.png",
        "marginals_class_zzz.png",
    }


def test_force_removes_figures_of_a_report_with_index_names(tmp_path):
    """Reports before label names wrote marginals_class_<i>.png; report.md links them."""
    (tmp_path / "report.md").write_text(
        "# old\n\n![Marginal distributions of class a](marginals_class_0.png)\n\n"
        "![x](../outside.png)\n\n![y](holiday.png)\n"
    )
    (tmp_path / "marginals_class_0.png").write_bytes(b"old figure")
    (tmp_path / "holiday.png").write_bytes(b"mine")
    report(tmp_path, ("a", "b"), force=True)
    assert not (tmp_path / "marginals_class_0.png").exists()
    assert (tmp_path / "holiday.png").read_bytes() == b"mine"  # linked, but not a report name
    assert (tmp_path / "marginals_class_a.png").is_file()


def test_without_force_no_existing_file_is_replaced(tmp_path):
    (tmp_path / "projection.png").write_bytes(b"the user's own plot")
    with pytest.raises(FileExistsError, match="projection.png.*force"):
        report(tmp_path, ("a", "b"))
    assert (tmp_path / "projection.png").read_bytes() == b"the user's own plot"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["projection.png"]  # nothing written
    report(tmp_path, ("a", "b"), force=True)
    assert (tmp_path / "projection.png").read_bytes().startswith(b"\x89PNG")


def test_progress_reports_each_section_and_is_off_by_default(tmp_path, capsys):
    messages: list[str] = []
    report(tmp_path / "one", ("a", "b"), progress=messages.append)
    assert messages[0].startswith("computing")
    steps = [m for m in messages if m.startswith("section ")]
    assert steps == [f"section {i}/{len(SECTIONS)}: {t}" for i, t in enumerate(SECTIONS, 1)]
    assert messages[-1].startswith("writing ") and str(tmp_path / "one") in messages[-1]
    capsys.readouterr()
    report(tmp_path / "two", ("a", "b"))
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_file_name_helpers():
    assert safe_file_part("a/b c") == "a_b_c"
    assert safe_file_part("../../etc/passwd") == "etc_passwd"
    assert safe_file_part("***") == "class" and safe_file_part(".hidden") == "hidden"
    assert len(safe_file_part("x" * 500)) == 60
    assert unique_names(["x", "X", "x", "y"], "p_", ".png") == [
        "p_x.png",
        "p_X_2.png",
        "p_x_3.png",
        "p_y.png",
    ]


def test_stale_helpers_touch_only_report_figure_names(tmp_path):
    md = tmp_path / "report.md"
    md.write_text(
        "![a \\] b](marginals_class_a.png) ![c](sample_grid_0.png) ![d](data.png) "
        "![e](sub/projection.png)"
    )
    assert linked_figures(md) == {"marginals_class_a.png", "sample_grid_0.png"}
    assert linked_figures(tmp_path / "missing.md") == set()
    for name in ("marginals_class_a.png", "sample_grid_0.png", "data.png"):
        (tmp_path / name).write_bytes(b"x")
    removed = remove_stale_figures(
        tmp_path, {"marginals_class_a.png", "sample_grid_0.png", "data.png"}, {"sample_grid_0.png"}
    )
    assert [p.name for p in removed] == ["marginals_class_a.png"]
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["data.png", "sample_grid_0.png"]
