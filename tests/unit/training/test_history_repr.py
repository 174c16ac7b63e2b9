"""History: a one-line repr however long the run (it printed 168k characters), and the
per-step records as a DataFrame."""

from __future__ import annotations

import pandas as pd
import torch

from genbalance import models
from genbalance.training.state import History
from genbalance.training.trainer import Trainer


def long_history(n: int = 5000) -> History:
    steps = [
        {"step": i + 1, "loss_d": 1.0 / (i + 1), "loss_g": 0.5, "d_real": 0.1} for i in range(n)
    ]
    return History(steps=steps, events=["x"] * 50, seconds=12.34)


def test_repr_is_short_and_names_steps_and_last_losses():
    text = repr(long_history())
    assert "\n" not in text and len(text) < 200, text
    assert text.startswith("History(5000 steps in 12.3 s")
    assert "loss_d=0.0002" in text and "loss_g=0.5" in text
    assert "d_real" not in text  # losses only
    assert "stopped" not in text and "epsilon" not in text


def test_repr_names_stop_reason_rollbacks_and_privacy():
    h = long_history(3)
    h.stopped_early = "time budget of 1 s spent"
    h.rollbacks = 2
    h.privacy = {"epsilon": 0.98765, "delta": 1e-5, "steps": 3}
    text = repr(h)
    assert "stopped: time budget of 1 s spent" in text
    assert "2 rollbacks" in text
    assert "epsilon 0.9877 (delta 1e-05)" in text


def test_repr_of_an_empty_or_loaded_history():
    assert repr(History()) == "History(0 steps in 0.0 s)"
    loaded = History.from_json({"steps": [{"step": 1, "loss": None}], "seconds": 0.5})
    assert repr(loaded) == "History(1 step in 0.5 s; last loss=None)"


def test_to_frame_has_one_row_per_step():
    frame = long_history(4).to_frame()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.index) == [1, 2, 3, 4] and frame.index.name == "step"
    assert list(frame.columns) == ["loss_d", "loss_g", "d_real"]
    assert frame["loss_d"].iloc[-1] == 0.25
    assert History().to_frame().empty


def test_a_trained_history_is_short_and_framed():
    torch.manual_seed(0)
    X, y = torch.randn(128, 4), torch.randint(0, 2, (128,))
    history = Trainer(epochs=3, batch_size=32, progress=False, health_check=False).fit(
        models.get("gan")(4, 2), X, y
    )
    text = repr(history)
    assert len(text) < 200 and "12 steps" in text and "loss_g=" in text
    frame = history.to_frame()
    assert len(frame) == 12 and {"loss_d", "loss_g"} <= set(frame.columns)
    assert frame["loss_g"].tolist() == history.series("loss_g")
