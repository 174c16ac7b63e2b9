"""build_report: one self-contained HTML + Markdown + PNGs, checked in headless Chromium."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.linear_model import LogisticRegression

from genbalance import Synthesizer
from genbalance.evaluation.report import SECTIONS, build_report, evaluate_tables

FAST = {"logistic_regression": LogisticRegression()}


def table(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.where(rng.random(n) < 0.25, "rare", "common")
    X = pd.DataFrame(
        {
            "amount": rng.normal(0, 1, n) + 2.0 * (y == "rare"),
            "items": rng.integers(0, 5, n),
            "shop": rng.choice(["a", "b", "c"], n),
        }
    )
    return X, y


@pytest.fixture(scope="module")
def fitted():
    """A tiny DP-trained VAE: real history and privacy spend for the report."""
    pytest.importorskip("opacus")
    X, y = table(160, 0)
    synth = Synthesizer(
        "vae",
        epochs=3,
        batch_size=40,
        random_state=0,
        privacy={"epsilon": 3.0},
        model_options={"hidden": [16, 16]},
        trainer_options={"health_check": False},
    ).fit(X, y)
    labels = np.repeat(["common", "rare"], 60)
    return X, y, synth, synth.sample(y=labels, random_state=0), labels


@pytest.fixture(scope="module")
def report_dir(fitted, tmp_path_factory):
    X, y, synth, S, sy = fitted
    H, hy = table(80, 1)
    out = tmp_path_factory.mktemp("report")
    digits = np.random.default_rng(0).random((20, 8, 8))
    written = build_report(
        out,
        X,
        y,
        S,
        sy,
        synthesizer=synth,
        holdout_X=H,
        holdout_y=hy,
        classifiers=FAST,
        detection=False,
        image_grids={"Example grid": (digits, np.repeat([0, 1], 10))},
    )
    return out, written, synth


def _data_pngs(text: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', text)]


def test_html_is_self_contained_and_has_every_section(report_dir):
    out, written, synth = report_dir
    text = (out / "report.html").read_text()
    for heading in SECTIONS:
        assert f"<h2>{heading}</h2>" in text
    # nothing is fetched from elsewhere: every image is inlined, no scripts or stylesheets
    assert not re.search(r'(src|href)="(?!data:)', text)
    pngs = _data_pngs(text)
    names = sorted(p.name for p in out.glob("*.png"))
    assert len(pngs) == len(names) >= 6  # counts, curves, 2 marginals, projection, grid
    assert all(p.startswith(b"\x89PNG") for p in pngs)
    assert "sample_grid_0.png" in names and "training_curves.png" in names
    eps = synth.privacy_["epsilon"]
    assert f"{eps:.4g}" in text and 0 < eps <= 3.0


def test_markdown_links_the_png_files_and_json_is_strict(report_dir):
    out, written, _ = report_dir
    md = (out / "report.md").read_text()
    for heading in SECTIONS:
        assert f"## {heading}" in md
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert links and all((out / link).is_file() for link in links)

    def refuse(value):
        raise ValueError(f"non-JSON constant {value}")

    doc = json.loads((out / "metrics.json").read_text(), parse_constant=refuse)
    assert doc["class_counts"]["before"] == {
        "common": int((table(160, 0)[1] == "common").sum()),
        "rare": int((table(160, 0)[1] == "rare").sum()),
    }
    assert doc["privacy"]["epsilon"] <= 3.0
    assert {r["scope"] for r in doc["metrics"]["fidelity"]} == {"overall", "class"}
    assert doc["metrics"]["privacy"]["mia_auc"] is not None  # a holdout was given
    assert doc["metrics"]["utility"]["rebalancing_gain"]


def test_report_files_are_not_overwritten_without_force(fitted, tmp_path):
    X, y, _, S, sy = fitted
    build_report(tmp_path, X, y, S, sy, classifiers=FAST, detection=False)
    before = (tmp_path / "report.html").read_bytes()
    with pytest.raises(FileExistsError, match="force"):
        build_report(tmp_path, X, y, S, sy, classifiers=FAST, detection=False)
    assert (tmp_path / "report.html").read_bytes() == before
    build_report(
        tmp_path, X, y, S, sy, classifiers=FAST, detection=False, title="Second", force=True
    )
    assert "<h1>Second</h1>" in (tmp_path / "report.html").read_text()


def test_report_without_model_or_synthetic_rows_says_so(fitted, tmp_path):
    X, y, *_ = fitted
    build_report(tmp_path, X, y)
    text = (tmp_path / "report.html").read_text()
    assert "No training history was given" in text
    assert "not trained with differential privacy" in text
    assert text.count("No synthetic rows were given") == 5


def test_bad_inputs_are_named(fitted, tmp_path):
    X, y, _, S, sy = fitted
    with pytest.raises(ValueError, match="real_y"):
        build_report(tmp_path, X, y[:-1], S, sy)
    with pytest.raises(ValueError, match="synth_y"):
        build_report(tmp_path, X, y, S, sy[:-1])
    with pytest.raises(TypeError, match="DataFrame"):
        build_report(tmp_path, X.to_numpy(), y)
    with pytest.raises(ValueError, match="no rows"):
        evaluate_tables(X, y, S.iloc[:0], sy[:0])


def test_evaluate_tables_separates_a_copy_from_a_fresh_sample(fitted):
    X, y, *_ = fitted
    H, hy = table(160, 2)
    copy = evaluate_tables(X, y, X.copy(), y, H, hy, classifiers=FAST, detection=False)
    fresh = evaluate_tables(X, y, *table(160, 3), H, hy, classifiers=FAST, detection=False)
    assert copy["privacy"]["exact_copies"] == len(X) and fresh["privacy"]["exact_copies"] == 0
    assert copy["privacy"]["mia_auc"] > 0.9 > fresh["privacy"]["mia_auc"] + 0.25
    overall = copy["fidelity"].iloc[0]
    assert overall["column_shapes"] == pytest.approx(1.0)


def _browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def test_report_renders_in_headless_chromium(report_dir, tmp_path):
    browser = _browser()
    if browser is None:
        pytest.skip("no Chromium found (make test installs Debian's chromium where apt exists)")
    out, _, _ = report_dir
    shot = tmp_path / "shot.png"
    cmd = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1200,1600",
        f"--screenshot={shot}",
        "--dump-dom",
        (out / "report.html").resolve().as_uri(),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    for heading in SECTIONS:  # the parsed page (not just the file) holds every section
        assert re.search(rf"<h2>\s*{re.escape(heading)}\s*</h2>", dom), heading
    assert len(re.findall(r"<img\b", dom)) == len(list(out.glob("*.png")))
    assert shot.is_file() and shot.stat().st_size > 5000
    pixels = np.asarray(Image.open(io.BytesIO(shot.read_bytes())).convert("L"), dtype=float)
    assert pixels.shape[:2] == (1600, 1200)
    assert pixels.std() > 10  # not a blank page: text, tables and figures drew
    assert (pixels < 100).mean() > 0.005  # some dark ink (headings, text)
