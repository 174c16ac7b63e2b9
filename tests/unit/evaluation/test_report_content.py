"""What the report says: section registry, intro counts, verdicts, missing values, escaping."""

from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from genbalance.evaluation.report import SECTION_BUILDERS, SECTIONS, build_report
from genbalance.evaluation.report_render import md_escape
from genbalance.evaluation.report_verdict import (
    LEVELS,
    THRESHOLDS,
    class_verdicts,
    thresholds_table,
    verdict,
)

FAST = {"logistic_regression": LogisticRegression()}


def table(n: int, seed: int, labels=("common", "rare"), shift: float = 0.0):
    """A toy table; ``shift`` moves the last class's ``amount`` (an obviously bad generator)."""
    rng = np.random.default_rng(seed)
    y = np.where(rng.random(n) < 0.3, labels[-1], labels[0]).astype(object)
    X = pd.DataFrame(
        {
            "amount": rng.normal(0, 1, n) + 2.0 * (y == labels[-1]) + shift * (y == labels[-1]),
            "items": rng.integers(0, 5, n),
            "shop": rng.choice(["a", "b", "c"], n),
        }
    )
    return X, y


def md_table_after(md: str, heading: str) -> list[list[str]]:
    """Rows (cells split on unescaped pipes) of the first Markdown table after ``heading``."""
    lines = md[md.index(heading) :].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| "))
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        cells = re.split(r"(?<!\\)\|", line)[1:-1]
        rows.append([c.strip() for c in cells])
    return [rows[0], *rows[2:]]  # header, body (without the --- rule)


# ---------------------------------------------------------------------------- structure
def test_sections_are_one_builder_each_and_render_in_registry_order(tmp_path):
    assert SECTIONS == tuple(b.title for b in SECTION_BUILDERS)
    assert SECTIONS[0] == "Summary" and len(set(SECTIONS)) == len(SECTIONS)
    X, y = table(120, 0)
    S, sy = table(90, 1)
    build_report(tmp_path, X, y, S, sy, classifiers=FAST, detection=False)
    page = (tmp_path / "report.html").read_text()
    assert re.findall(r"<h2>([^<]+)</h2>", page) == list(SECTIONS)
    md = (tmp_path / "report.md").read_text()
    assert re.findall(r"^## (.+)$", md, flags=re.M) == [md_escape(s) for s in SECTIONS]


# ---------------------------------------------------------------------------- intro count
def test_intro_count_is_the_sum_of_the_added_column(tmp_path):
    """A model report: 'after' raises every class to the majority; the sample size differs."""
    X, y = table(200, 0)
    S, sy = table(70, 1)
    counts = pd.Series(y).value_counts()
    after = {c: int(counts.max()) for c in counts.index}
    build_report(tmp_path, X, y, S, sy, after_counts=after, classifiers=FAST, detection=False)
    md = (tmp_path / "report.md").read_text()
    head, *body = md_table_after(md, "## Class counts")
    added = sum(int(row[head.index("added")]) for row in body)
    assert added == int(counts.max() - counts.min()) != len(S)
    intro = md.split("## ")[0]
    assert re.findall(r"Rows added by rebalancing: (\d+)", intro) == [str(added)]
    assert f"judge {len(S)} synthetic rows" in intro  # the other number, named for what it is
    assert "Synthetic rows: " not in intro


def test_intro_without_after_counts_says_the_synthetic_rows_are_the_added_ones(tmp_path):
    X, y = table(120, 0)
    S, sy = table(55, 1)
    build_report(tmp_path, X, y, S, sy, classifiers=FAST, detection=False)
    intro = (tmp_path / "report.md").read_text().split("## ")[0]
    assert f"Rows added by rebalancing: {len(S)} " in intro and "judge" not in intro


# ---------------------------------------------------------------------------- verdicts
def test_verdict_names_the_deciding_metric_in_plain_words():
    bad = {"detection_auc": 0.95, "column_shapes": 0.97, "column_pair_trends": 0.96}
    text = verdict(bad)
    assert text.startswith("far from real — detection AUC 0.95")
    assert "easy to tell apart from real ones" in text
    good = {"detection_auc": 0.52, "column_shapes": 0.95, "column_pair_trends": 0.93}
    assert verdict(good).startswith("close to real — detection AUC 0.52")
    mid = {"detection_auc": 0.55, "column_shapes": 0.8, "column_pair_trends": 0.95}
    assert verdict(mid).startswith("some differences — column shapes 0.80")
    off = {"detection_auc": float("nan"), "column_shapes": 0.95, "column_pair_trends": 0.99}
    assert verdict(off).endswith("(detection not run)") and verdict(off).startswith("close")
    both = verdict({**off, "n_real": 30, "n_synthetic": 400})
    assert both.endswith("(detection not run; only 30 rows on one side, so the numbers are noisy)")
    few = {**good, "n_real": 12, "n_synthetic": 400}
    assert "only 12 rows" in verdict(few)
    assert verdict({"detection_auc": None}) == "not enough rows to judge"


def test_threshold_boundaries_and_table_agree():
    det = next(t for t in THRESHOLDS if t.metric == "detection_auc")
    assert [det.level(v) for v in (0.5, 0.6, 0.61, 0.8, 0.81)] == [0, 0, 1, 1, 2]
    shapes = next(t for t in THRESHOLDS if t.metric == "column_shapes")
    assert [shapes.level(v) for v in (1.0, 0.9, 0.89, 0.75, 0.74)] == [0, 0, 1, 1, 2]
    tab = thresholds_table()
    assert list(tab.columns) == ["metric", "ideal", *LEVELS]
    row = tab.set_index("metric").loc["detection_auc"]
    assert row["ideal"] == "0.5" and row["far from real"].startswith("> 0.8: ")
    assert "easy to tell apart" in row["far from real"]


def test_class_verdicts_cover_every_class_even_without_synthetic_rows():
    fid = pd.DataFrame(
        {
            "scope": ["overall", "class"],
            "label": [pd.NA, 1],
            "detection_auc": [0.55, 0.9],
            "column_shapes": [0.95, 0.9],
            "column_pair_trends": [0.95, 0.9],
        }
    )
    out = class_verdicts(fid, ["0", "1"])
    assert list(out["class"]) == ["all classes", "0", "1"]
    assert out["verdict"][0].startswith("close to real")
    assert out["verdict"][1] == "no synthetic rows of this class were evaluated"
    assert out["verdict"][2].startswith("far from real — detection AUC 0.90")


def test_report_gives_a_bad_class_a_far_verdict(tmp_path):
    X, y = table(300, 0)
    S, sy = table(300, 1, shift=6.0)  # the rare class's amount is far off; common is fine
    build_report(tmp_path, X, y, S, sy, classifiers=FAST, detection=True)
    md = (tmp_path / "report.md").read_text()
    head, *body = md_table_after(md, "## Summary")
    verdicts = {row[0]: row[1] for row in body}
    assert set(verdicts) == {"all classes", "common", "rare"}
    assert verdicts["rare"].startswith("far from real — detection AUC")
    assert "easy to tell apart from real ones" in verdicts["rare"]
    assert not verdicts["common"].startswith("far")
    # the thresholds stand next to the raw metric names under Fidelity
    fidelity = md[md.index("## Fidelity") : md.index("## Utility")]
    assert "### How to read the metrics" in fidelity
    assert "detection\\_auc | 0.5 | ≤ 0.6: " in fidelity


# ---------------------------------------------------------------------------- marginals
def test_marginals_show_missing_value_shares_per_class(tmp_path):
    X, y = table(200, 0)
    S, sy = table(150, 1)
    rare = np.flatnonzero(y == "rare")
    X.loc[rare[::4], "amount"] = np.nan  # a quarter of the rare rows miss 'amount'
    S.loc[np.flatnonzero(sy == "common")[:3], "shop"] = None
    build_report(tmp_path, X, y, S, sy, classifiers=FAST, detection=False)
    md = (tmp_path / "report.md").read_text()
    head, *body = md_table_after(md, "### Missing values (share of rows)")
    assert head == ["class", "column", "real", "synthetic"]
    rows = {(r[0], r[1]): (r[2], r[3]) for r in body}
    share = len(rare[::4]) / len(rare)
    assert rows[("rare", "amount")] == (f"{share:.1%}", "0.0%")
    n_common = int((sy == "common").sum())
    assert rows[("common", "shop")] == ("0.0%", f"{3 / n_common:.1%}")
    assert ("common", "amount") not in rows  # only columns with missing values are listed
    assert "Missing values (share of rows)" in (tmp_path / "report.html").read_text()


def test_marginals_without_missing_values_say_so(tmp_path):
    X, y = table(120, 0)
    S, sy = table(90, 1)
    build_report(tmp_path, X, y, S, sy, classifiers=FAST, detection=False)
    assert "No missing values in the real or synthetic rows" in (tmp_path / "report.md").read_text()


def test_figures_are_named_by_sanitised_class_label(tmp_path):
    labels = ("a/b c", "A|B", "x_y", "x y", "<é>")
    rng = np.random.default_rng(0)
    y = rng.choice(labels, 200).astype(object)
    sy = rng.choice(labels, 150).astype(object)
    X = pd.DataFrame({"v": rng.normal(size=200), "w": rng.choice(["p", "q"], 200)})
    S = pd.DataFrame({"v": rng.normal(size=150), "w": rng.choice(["p", "q"], 150)})
    written = build_report(tmp_path, X, y, S, sy, classifiers=FAST, detection=False)
    names = sorted(p.name for p in tmp_path.glob("marginals_class_*.png"))
    # sorted labels: "<é>", "A|B", "a/b c", "x y", "x_y"; "x y" and "x_y" both sanitise to x_y
    assert names == sorted(
        [
            "marginals_class_class.png",
            "marginals_class_A_B.png",
            "marginals_class_a_b_c.png",
            "marginals_class_x_y.png",
            "marginals_class_x_y_2.png",
        ]
    )
    assert all(re.fullmatch(r"marginals_class_[A-Za-z0-9._-]+\.png", n) for n in names)
    assert set(names) <= set(written)
    md = (tmp_path / "report.md").read_text()
    for name in names:
        assert f"]({name})" in md


# ---------------------------------------------------------------------------- escaping
def test_markdown_escapes_labels_and_column_names(tmp_path):
    evil_label, plain = "**bold**|<b>x</b> [l](u) `c` _i_", "plain"
    rng = np.random.default_rng(0)
    y = rng.choice([evil_label, plain], 150).astype(object)
    sy = rng.choice([evil_label, plain], 120).astype(object)
    col = "col|*_`[x]<y>"
    X = pd.DataFrame({col: rng.normal(size=150), "k": rng.choice(["u", "v"], 150)})
    S = pd.DataFrame({col: rng.normal(size=120), "k": rng.choice(["u", "v"], 120)})
    build_report(tmp_path, X, y, S, sy, classifiers=FAST, detection=False, title="T_i *t*")
    md = (tmp_path / "report.md").read_text()
    assert md.startswith("# T\\_i \\*t\\*\n")
    escaped = r"\*\*bold\*\*\|\<b\>x\</b\> \[l\](u) \`c\` \_i\_"
    assert escaped in md
    assert evil_label not in md and "<b>" not in md and col not in md
    # every table row has exactly as many unescaped pipes as its header
    for block in re.findall(r"(?:^\|.*\|$\n?)+", md, flags=re.M):
        widths = {len(re.findall(r"(?<!\\)\|", line)) for line in block.strip().splitlines()}
        assert len(widths) == 1, block
    head, *body = md_table_after(md, "## Class counts")
    assert any(row[0] == escaped for row in body)
    page = (tmp_path / "report.html").read_text()
    assert html.escape(evil_label) in page and "<b>x</b>" not in page


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a|b", r"a\|b"),
        ("2*3_4", r"2\*3\_4"),
        ("<x>", r"\<x\>"),
        ("a\\b", r"a\\b"),
        ("l1\nl2", "l1 l2"),
    ],
)
def test_md_escape(text, expected):
    assert md_escape(text) == expected


# ---------------------------------------------------------------------------- ID columns
def test_id_columns_are_left_out_of_every_figure_and_named(tmp_path, monkeypatch):
    """Generated IDs are new by design: no histogram, projection or missing-value row may
    show the ID column, and the intro says it was left out."""
    from genbalance.evaluation import report_sections

    X, y = table(120, 0)
    S, sy = table(90, 1)
    X.insert(0, "customer_id", np.arange(10_000, 10_120))
    S.insert(0, "customer_id", np.arange(50_000, 50_090))
    X.loc[::7, "customer_id"] = np.nan  # read back from CSV: float with blanks, still an ID
    drawn: list[list[str]] = []
    real_marginals, real_projection = (
        report_sections.marginals_figure,
        report_sections.projection_figure,
    )

    def marginals(r, s, numeric, title):
        drawn.append([*r.columns, *s.columns, *numeric])
        return real_marginals(r, s, numeric, title)

    def projection(real_X, real_y, synth_X, synth_y, *rest):
        drawn.append([*real_X.columns, *synth_X.columns])
        return real_projection(real_X, real_y, synth_X, synth_y, *rest)

    monkeypatch.setattr(report_sections, "marginals_figure", marginals)
    monkeypatch.setattr(report_sections, "projection_figure", projection)
    build_report(tmp_path, X, y, S, sy, classifiers=FAST, detection=False)
    assert len(drawn) == 3  # two classes' marginals and the projection
    assert all("customer_id" not in cols and "amount" in cols for cols in drawn)
    md = (tmp_path / "report.md").read_text()
    name = md_escape("customer_id")
    assert f"ID column(s) {name} left out of every figure and metric" in md
    assert name not in md.split("left out of every figure and metric", 1)[1]
    # id_columns=None compares them anyway (the user's choice)
    drawn.clear()
    build_report(tmp_path / "all", X, y, S, sy, classifiers=FAST, detection=False, id_columns=None)
    assert all("customer_id" in cols for cols in drawn)
