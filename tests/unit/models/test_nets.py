"""Network blocks: span activations (vectorised), PacGAN packing, minibatch-std, blocks."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from genbalance.models.base import OutputSpan, default_spans
from genbalance.models.nets import (
    DenseBlock,
    MinibatchStd,
    ResidualBlock,
    SpanActivation,
    linear,
    norm_layer,
    one_hot,
    pack,
)

SPANS = [
    OutputSpan(1, "tanh"),
    OutputSpan(3, "softmax"),
    OutputSpan(1, "linear"),
    OutputSpan(2, "sigmoid"),
    OutputSpan(2, "softmax"),
]


#: spans of very different widths, a one-category span among them (the extreme-logit tests)
EXTREME_SPANS = [
    OutputSpan(1, "softmax"),
    OutputSpan(1, "tanh"),
    OutputSpan(5, "softmax"),
    OutputSpan(40, "softmax"),
    OutputSpan(2, "softmax"),
    OutputSpan(3, "softmax"),
    OutputSpan(2, "sigmoid"),
    OutputSpan(1, "linear"),
]


def reference(raw: torch.Tensor) -> torch.Tensor:
    """The same activations, one span at a time (the slow, obvious way)."""
    out, start = [], 0
    for span in SPANS:
        part = raw[:, start : start + span.size]
        fn = {
            "tanh": torch.tanh,
            "sigmoid": torch.sigmoid,
            "linear": lambda t: t,
            "softmax": lambda t: torch.softmax(t, dim=1),
        }[span.activation]
        out.append(fn(part))
        start += span.size
    return torch.cat(out, dim=1)


def test_span_activation_matches_span_by_span_reference():
    act = SpanActivation(SPANS)
    raw = torch.randn(16, 9, generator=torch.Generator().manual_seed(0)) * 3
    assert torch.allclose(act(raw), reference(raw), atol=1e-6)


def test_gumbel_softmax_rows_sum_to_one_and_are_reproducible():
    act = SpanActivation(SPANS)
    raw = torch.randn(64, 9, generator=torch.Generator().manual_seed(1))
    a = act(raw, tau=0.2, generator=torch.Generator().manual_seed(7))
    b = act(raw, tau=0.2, generator=torch.Generator().manual_seed(7))
    c = act(raw, tau=0.2, generator=torch.Generator().manual_seed(8))
    assert torch.isfinite(a).all()
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.allclose(a[:, 1:4].sum(1), torch.ones(64), atol=1e-5)
    assert torch.allclose(a[:, 7:9].sum(1), torch.ones(64), atol=1e-5)
    # non-softmax columns are untouched by the Gumbel noise
    assert torch.allclose(a[:, [0, 4, 5, 6]], reference(raw)[:, [0, 4, 5, 6]])
    # low temperature: draws are nearly one-hot and follow the softmax probabilities
    logits = torch.tensor([[2.0, 0.0, -1.0]]).repeat(4000, 1)
    one = SpanActivation([OutputSpan(3, "softmax")])
    draws = one(logits, tau=0.05, generator=torch.Generator().manual_seed(2))
    freq = draws.argmax(1).bincount(minlength=3).float() / 4000
    assert torch.allclose(freq, torch.softmax(logits[0], 0), atol=0.03)
    assert draws.max(1).values.mean() > 0.95


def test_sampling_draws_one_hot_categories_from_the_softmax():
    act = SpanActivation(SPANS)
    raw = torch.randn(500, 9, generator=torch.Generator().manual_seed(3)) * 2
    hard = act.sample(raw.clone(), generator=torch.Generator().manual_seed(4))
    again = act.sample(raw.clone(), generator=torch.Generator().manual_seed(4))
    other = act.sample(raw.clone(), generator=torch.Generator().manual_seed(5))
    assert torch.equal(hard, again) and not torch.equal(hard, other)
    for cols in ([1, 2, 3], [7, 8]):
        assert torch.equal(hard[:, cols].sum(1), torch.ones(500))  # exactly one hot
        assert set(hard[:, cols].unique().tolist()) == {0.0, 1.0}
    assert torch.allclose(hard[:, [0, 4, 5, 6]], reference(raw)[:, [0, 4, 5, 6]])
    # draws follow the softmax probabilities, not the argmax
    logits = torch.tensor([[2.0, 0.0, -1.0]]).repeat(4000, 1)
    one = SpanActivation([OutputSpan(3, "softmax")])
    freq = one.sample(logits, torch.Generator().manual_seed(2)).sum(0) / 4000
    assert torch.allclose(freq, torch.softmax(logits[0], 0), atol=0.03)
    # spans without categories: scalar activations only, input left as it was
    scalar = SpanActivation([OutputSpan(1, "tanh"), OutputSpan(1, "linear")])
    x = torch.tensor([[3.0, 3.0]])
    assert torch.allclose(scalar.sample(x), torch.tensor([[torch.tanh(x[0, 0]).item(), 3.0]]))
    assert torch.equal(x, torch.tensor([[3.0, 3.0]]))


def test_sampling_frequencies_match_softmax_in_every_span_even_at_extreme_logits():
    act = SpanActivation(EXTREME_SPANS[:6])  # the categories; the scalar spans come after them
    gen = torch.Generator().manual_seed(0)
    row = torch.randn(1, 52, generator=gen) * 2
    row[0, 47:49] = torch.tensor([-200.0, -201.0])  # exp underflows: shifted by the span's max
    row[0, 49:51] = torch.tensor([1000.0, 990.0])  # exp overflows: likewise
    row[0, 51] = -1e6  # a category with no mass is never drawn
    n = 40_000
    raw = row.repeat(n, 1)
    raw_before = raw.clone()
    hard = act.sample(raw, torch.Generator().manual_seed(1))
    assert torch.equal(raw, raw_before)  # the network's output is not written over
    assert torch.equal(hard[:, 0], torch.ones(n))  # a one-category span is always drawn
    for first, width in ((2, 5), (7, 40), (47, 2), (49, 3)):
        cols = slice(first, first + width)
        assert torch.equal(hard[:, cols].sum(1), torch.ones(n))
        freq = hard[:, cols].mean(0)
        expected = torch.softmax(row[0, cols].double(), 0).float()
        assert torch.allclose(freq, expected, atol=4 * (0.25 / n) ** 0.5 + 1e-6), (first, freq)
    assert hard[:, 51].sum() == 0


def test_categorical_nll_matches_span_by_span_cross_entropy():
    act = SpanActivation(SPANS)
    gen = torch.Generator().manual_seed(5)
    raw = (torch.randn(32, 9, generator=gen) * 4).requires_grad_()
    x = torch.rand(32, 9, generator=gen)  # soft targets too, not only one-hot
    expected = -(x[:, 1:4] * torch.log_softmax(raw[:, 1:4], 1)).sum(1) - (
        x[:, 7:9] * torch.log_softmax(raw[:, 7:9], 1)
    ).sum(1)
    got = act.categorical_nll(raw, x)
    assert torch.allclose(got, expected, atol=1e-5)
    got.sum().backward()  # differentiable, and only through the softmax positions
    assert torch.equal(raw.grad[:, [0, 4, 5, 6]], torch.zeros(32, 4))
    scalar_only = SpanActivation([OutputSpan(2, "linear")])
    assert torch.equal(scalar_only.categorical_nll(raw[:, :2], x[:, :2]), torch.zeros(32))


def test_gradients_flow_through_every_span():
    act = SpanActivation(SPANS)
    raw = torch.randn(8, 9, requires_grad=True)
    act(raw, tau=0.5).pow(2).sum().backward()
    assert torch.isfinite(raw.grad).all() and (raw.grad.abs().sum(0) > 0).all()


def test_spans_must_cover_the_data():
    from genbalance.models import get

    with pytest.raises(ValueError, match="spans cover 3 columns but data_dim=4"):
        get("gan")(4, 2, default_spans(3))


def test_pack_and_minibatch_std():
    x = torch.arange(14.0).reshape(7, 2)
    packed = pack(x, 3)
    assert packed.shape == (2, 6)
    assert torch.equal(packed[1], torch.tensor([6.0, 7, 8, 9, 10, 11]))
    assert pack(x, 1) is x
    h = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    out = MinibatchStd()(h)
    assert out.shape == (2, 3)
    assert torch.allclose(out[:, 2], torch.ones(2))  # each column has population std 1
    assert MinibatchStd()(h[:1])[0, 2] == 0.0


def test_blocks_and_helpers():
    assert ResidualBlock(5, 7, "layer")(torch.randn(4, 5)).shape == (4, 12)
    assert DenseBlock(5, 7, "none", dropout=0.1)(torch.randn(4, 5)).shape == (4, 7)
    assert hasattr(linear(3, 2, spectral=True), "parametrizations")
    assert torch.equal(one_hot(torch.tensor([2, 0]), 3), torch.tensor([[0.0, 0, 1], [1, 0, 0]]))
    with pytest.raises(ValueError, match="unknown norm 'group'"):
        norm_layer("group", 4)


def extreme_head(rows: int, seed: int) -> tuple[torch.nn.Linear, torch.Tensor]:
    """An output layer whose bias puts spans far below and far above the rest of the row."""
    gen = torch.Generator().manual_seed(seed)
    head = torch.nn.Linear(16, 55)
    with torch.no_grad():
        head.weight.copy_(torch.randn(55, 16, generator=gen))
        head.bias.copy_(torch.randn(55, generator=gen) * 2)
        head.bias[47:49] = torch.tensor([-200.0, -201.0])  # underflows under the row's shift
        head.bias[49:51] = torch.tensor([1000.0, 990.0])  # sets the row's shift
        head.bias[51] = -1e6  # no mass: never drawn
    return head, torch.randn(rows, 16, generator=gen)


@pytest.mark.parametrize("rows", [0, 1, 7, 3000])
def test_sample_head_draws_exactly_what_sample_draws_on_the_same_outputs(rows):
    act = SpanActivation(EXTREME_SPANS)
    head, hidden = extreme_head(rows, seed=rows)
    with torch.no_grad():
        # the span-major product, laid out row-major: the outputs sample_head draws from
        raw = torch.addmm(head.bias[:, None], head.weight, hidden.T).T.contiguous()
        assert torch.allclose(raw, head(hidden), rtol=1e-5, atol=1e-3)
    expected = act.sample(raw, torch.Generator().manual_seed(9))
    got = act.sample_head(head, hidden, torch.Generator().manual_seed(9))
    assert got.shape == (rows, 55) and got.is_contiguous()
    assert torch.equal(got, expected)
    if rows:
        for first, width in ((0, 1), (2, 5), (7, 40), (47, 2), (49, 3)):
            assert torch.equal(got[:, first : first + width].sum(1), torch.ones(rows))
        assert got[:, 51].sum() == 0


def test_sample_head_frequencies_follow_the_softmax_of_the_head():
    head = torch.nn.Linear(1, 4)
    with torch.no_grad():
        head.weight.zero_()
        head.bias.copy_(torch.tensor([2.0, 0.0, -1.0, 0.5]))
    act = SpanActivation([OutputSpan(3, "softmax"), OutputSpan(1, "tanh")])
    n = 20_000
    out = act.sample_head(head, torch.zeros(n, 1), torch.Generator().manual_seed(0))
    freq = out[:, :3].mean(0)
    assert torch.allclose(freq, torch.softmax(head.bias[:3].detach(), 0), atol=0.02)
    assert torch.allclose(out[:, 3], torch.full((n,), torch.tanh(torch.tensor(0.5)).item()))


def test_sample_head_falls_back_to_row_major_sampling_where_it_cannot_run():
    # float64 networks, and heads without categories, take sample(head(hidden)) as it is
    act = SpanActivation(SPANS)
    head = torch.nn.Linear(4, 9).double()
    hidden = torch.randn(50, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    got = act.sample_head(head, hidden, torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = act.sample(head(hidden), torch.Generator().manual_seed(2))
    assert got.dtype == torch.float64 and torch.equal(got, expected)
    scalar = SpanActivation([OutputSpan(1, "tanh"), OutputSpan(1, "linear")])
    plain_head = torch.nn.Linear(3, 2)
    h = torch.randn(5, 3)
    with torch.no_grad():
        assert torch.equal(scalar.sample_head(plain_head, h), scalar.sample(plain_head(h)))


@settings(max_examples=40, deadline=None)
@given(
    kinds=st.lists(
        st.sampled_from(["softmax", "tanh", "sigmoid", "linear"]), min_size=1, max_size=8
    ),
    widths=st.lists(st.integers(1, 12), min_size=8, max_size=8),
    rows=st.integers(0, 40),
    scale=st.sampled_from([0.1, 3.0, 80.0, 400.0]),
    seed=st.integers(0, 2**16),
)
def test_span_major_draws_equal_row_major_draws_for_any_layout(kinds, widths, rows, scale, seed):
    spans = [
        OutputSpan(width if kind == "softmax" else 1, kind)
        for kind, width in zip(kinds, widths, strict=False)
    ]
    act = SpanActivation(spans)
    gen = torch.Generator().manual_seed(seed)
    head = torch.nn.Linear(5, act.dim)
    with torch.no_grad():
        head.weight.copy_(torch.randn(act.dim, 5, generator=gen))
        head.bias.copy_(torch.randn(act.dim, generator=gen) * scale)  # spans far apart
    hidden = torch.randn(rows, 5, generator=gen)
    with torch.no_grad():
        # the outputs each path draws from: span-major where there are categories, else the
        # row-major layer that sample_head falls back to
        raw = torch.addmm(head.bias[:, None], head.weight, hidden.T).T.contiguous()
        raw = raw if act.has_softmax else head(hidden)
    expected = act.sample(raw, torch.Generator().manual_seed(seed + 1))
    got = act.sample_head(head, hidden, torch.Generator().manual_seed(seed + 1))
    assert torch.equal(got, expected)
