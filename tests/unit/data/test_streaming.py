"""Streaming: chunked reading, bounded reservoirs, training from a stream, chunked writing."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from genbalance.cli import app
from genbalance.data import chunks as streaming
from genbalance.data.chunks import (
    ChunkReader,
    TableWriter,
    chunk_rows_for_budget,
    covering_sample,
    parse_bytes,
    scan_table,
)
from genbalance.synthesis.streaming import fit_file, sample_to_file
from genbalance.synthesis.tabular import Synthesizer

N = 3000


def _frame(n: int = N, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = np.where(np.arange(n) % 20 == 0, "rare", "common")  # 5 % rare, spread over the file
    df = pd.DataFrame(
        {
            "a": rng.normal(size=n) + 4.0 * (y == "rare"),
            "b": rng.integers(0, 50, n),
            "c": rng.choice(["x", "y", "z"], n),
            "y": y,
        }
    )
    df.loc[n - 5, "c"] = "late"  # a category only the last chunk holds
    df.loc[n - 3, "a"] = np.nan  # a missing value only the last chunk holds
    return df


@pytest.fixture(params=[".csv", ".parquet"])
def table(tmp_path, request):
    df = _frame()
    path = tmp_path / f"data{request.param}"
    if request.param == ".csv":
        df.to_csv(path, index=False)
    else:
        df.to_parquet(path, index=False, row_group_size=700)
    return path, df


@pytest.fixture()
def no_full_reads(monkeypatch):
    """Fail loudly if anything reads a whole table through pandas."""

    def refuse(*args, **kwargs):
        raise AssertionError("the whole file was read at once")

    monkeypatch.setattr(pd, "read_csv", refuse)
    monkeypatch.setattr(pd, "read_parquet", refuse)


def test_reader_yields_bounded_chunks_that_rebuild_the_file(table, no_full_reads):
    path, df = table
    reader = ChunkReader(path, chunk_rows=400, exact=("y",))
    chunks = list(reader)
    assert reader.chunks_read == len(chunks) == int(np.ceil(N / 400))
    assert reader.max_rows_held == 400
    assert [len(c) for c in chunks[:-1]] == [400] * (len(chunks) - 1)
    got = pd.concat(chunks, ignore_index=True)
    np.testing.assert_allclose(got["a"].to_numpy(float), df["a"].to_numpy(float))
    assert got["c"].tolist() == df["c"].tolist()
    assert got["y"].tolist() == df["y"].tolist()


def test_csv_integer_column_that_turns_decimal_later_is_read(tmp_path):
    path = tmp_path / "t.csv"
    n = 50_000  # beyond pyarrow's first block (64 KiB here), where the types are inferred
    values = np.arange(n).astype(object)
    values[-1] = 2.5
    pd.DataFrame({"v": values}).to_csv(path, index=False)
    reader = ChunkReader(path, chunk_rows=1000)
    last = list(reader)[-1]
    assert last["v"].iloc[-1] == 2.5
    assert reader.promoted == {"v"}


def test_scan_counts_exactly_and_keeps_samples_bounded(table):
    path, df = table
    scan = scan_table(path, "y", chunk_rows=500, sample_rows=300, class_rows=200)
    assert scan.n_rows == N
    assert (
        dict(zip(scan.classes, scan.class_counts, strict=True)) == df["y"].value_counts().to_dict()
    )
    assert len(scan.sample) == 300
    held = scan.class_sample["__label__"].value_counts()
    assert held.max() == 200  # the common class is capped; the rare one (150 rows) held whole
    assert held.min() == 150
    assert "late" in scan.values["c"] and "a" in scan.has_missing
    cover = covering_sample(scan, ["c"], 0)
    assert "late" in set(cover["c"]) and cover["a"].isna().any()


def test_reservoir_is_uniform_over_the_file(tmp_path):
    path = tmp_path / "t.parquet"
    pd.DataFrame({"i": np.arange(20_000, dtype=float)}).to_parquet(path)
    scan = scan_table(path, None, chunk_rows=1000, sample_rows=2000)
    # every tenth of the file contributes about a tenth of the sample
    share = np.bincount((scan.sample["i"].to_numpy() // 2000).astype(int), minlength=10) / 2000
    assert np.all(np.abs(share - 0.1) < 0.03)


def test_fit_file_streams_and_learns_the_rare_class(tmp_path, no_full_reads):
    df = _frame()
    path = tmp_path / "data.parquet"
    df.to_parquet(path, index=False, row_group_size=700)
    synth = Synthesizer("vae", epochs=15, batch_size=128, random_state=0)
    fit_file(synth, path, "y", chunk_rows=500, class_rows=256)
    stats = synth.stream_stats_
    assert stats["rows"] == N and stats["scan_chunks"] == 6
    assert stats["train_chunks"] >= 6  # the training pass walked the file chunk by chunk
    assert stats["max_rows_held"] <= 500 + 256  # a chunk plus the rare-class reservoir
    assert list(synth.classes_) == ["common", "rare"]
    rows = synth.sample(y={"rare": 400, "common": 400}, random_state=1)
    gen_means = rows.assign(y=["rare"] * 400 + ["common"] * 400).groupby("y")["a"].mean()
    real_means = df.groupby("y")["a"].mean()
    # an in-memory fit with the same settings lands within about 0.1 of the real means
    assert abs(gen_means["rare"] - real_means["rare"]) < 0.6
    assert abs(gen_means["common"] - real_means["common"]) < 0.6
    assert rows["b"].dtype == np.int64


def test_sample_to_file_writes_in_chunks_and_is_reproducible(tmp_path):
    synth = Synthesizer("vae", epochs=1, random_state=0).fit(
        _frame(300).drop(columns="y"), _frame(300)["y"]
    )
    out = tmp_path / "gen.parquet"
    stats = sample_to_file(synth, 2500, out, chunk_rows=1000, random_state=3)
    assert stats == {"rows": 2500, "chunks": 3, "chunk_rows": 1000}
    first = pd.read_parquet(out)
    assert len(first) == 2500 and set(first["class"]) <= {"common", "rare"}
    with pytest.raises(FileExistsError):
        sample_to_file(synth, 10, out)
    sample_to_file(synth, 2500, out, chunk_rows=1000, random_state=3, force=True)
    pd.testing.assert_frame_equal(first, pd.read_parquet(out))
    csv = tmp_path / "rare.csv"
    sample_to_file(synth, 1200, csv, chunk_rows=500, label="rare")
    rare = pd.read_csv(csv)
    assert len(rare) == 1200 and set(rare["class"]) == {"rare"}


@pytest.fixture(scope="module")
def small_synth() -> Synthesizer:
    frame = _frame(300)
    with warnings.catch_warnings():  # one epoch: the health check's undertrained-model warning
        warnings.simplefilter("ignore", UserWarning)
        return Synthesizer("vae", epochs=1, random_state=0).fit(frame.drop(columns="y"), frame["y"])


def test_sample_to_file_writes_the_same_file_for_any_number_of_jobs(small_synth, tmp_path):
    import torch

    threads = torch.get_num_threads()
    frames = []
    for jobs in (1, 2, 3, None, -1):
        out = tmp_path / f"gen-{jobs}.parquet"
        stats = sample_to_file(small_synth, 2300, out, chunk_rows=400, random_state=5, n_jobs=jobs)
        assert stats == {"rows": 2300, "chunks": 6, "chunk_rows": 400}
        assert torch.get_num_threads() == threads  # the workers' one-thread rule is undone
        frames.append(pd.read_parquet(out))
    for other in frames[1:]:
        pd.testing.assert_frame_equal(frames[0], other)
    # and the chunks are the ones a sequential run draws: chunk i with seed random_state + i
    rng = np.random.default_rng(5)
    codes = small_synth.draw_codes(400, rng)
    first = small_synth.rows_for_codes(codes, 5).assign(**{"class": small_synth.classes_[codes]})
    pd.testing.assert_frame_equal(frames[0].iloc[:400], first, check_column_type=False)


def test_a_gan_writes_the_same_file_on_several_threads(tmp_path):
    """The GAN's generator has BatchNorm: fitted and loaded models sample in eval mode, so
    threads sharing it never switch it to batch statistics under each other."""
    frame = _frame(300)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        synth = Synthesizer(
            "gan", epochs=None, trainer_options={"max_steps": 5}, random_state=0, progress=False
        ).fit(frame.drop(columns="y"), frame["y"])
    assert not synth.model_.G.training
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    sample_to_file(synth, 3000, one, chunk_rows=300, random_state=2, n_jobs=1)
    sample_to_file(synth, 3000, two, chunk_rows=300, random_state=2, n_jobs=2)
    assert one.read_bytes() == two.read_bytes()


@pytest.mark.parametrize("jobs", [0, -2, 1.5, True, "2"])
def test_sample_to_file_refuses_a_bad_n_jobs_before_writing(small_synth, tmp_path, jobs):
    out = tmp_path / "gen.csv"
    with pytest.raises(ValueError, match=r"n_jobs must be None, -1 or an integer >= 1"):
        sample_to_file(small_synth, 100, out, n_jobs=jobs)
    assert not out.exists()


def test_a_failing_chunk_leaves_no_file_and_stops_the_workers(small_synth, tmp_path, monkeypatch):
    import torch

    threads = torch.get_num_threads()
    made = []
    real = small_synth.rows_for_codes

    def failing(codes, seed):
        made.append(seed)
        if seed == 3:
            raise RuntimeError("chunk 3 failed")
        return real(codes, seed)

    monkeypatch.setattr(small_synth, "rows_for_codes", failing)
    out = tmp_path / "gen.parquet"
    with pytest.raises(RuntimeError, match="chunk 3 failed"):
        sample_to_file(small_synth, 5000, out, chunk_rows=100, random_state=0, n_jobs=2)
    assert not out.exists() and not list(tmp_path.iterdir())
    assert len(made) < 50  # the chunks after the failure were not all generated
    assert torch.get_num_threads() == threads


def test_cli_sample_jobs_gives_the_same_file_and_refuses_bad_values(small_synth, tmp_path):
    model = tmp_path / "m.safetensors"
    small_synth.save(model)
    runner = CliRunner()
    outputs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"rows-{jobs}.csv"
        args = ["sample", str(model), "-n", "900", "--chunk-rows", "200", "-o", str(out)]
        res = runner.invoke(app, [*args, "--jobs", jobs])
        assert res.exit_code == 0, res.output
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    bad = runner.invoke(
        app, ["sample", str(model), "-n", "9", "-o", str(tmp_path / "b.csv"), "-j", "0"]
    )
    assert bad.exit_code == 2 and "--jobs must be None, -1 or an integer >= 1" in bad.output
    assert not (tmp_path / "b.csv").exists()


def test_writer_leaves_no_file_when_writing_fails(tmp_path):
    out = tmp_path / "x.parquet"
    with pytest.raises(RuntimeError), TableWriter(out) as writer:
        writer.write(pd.DataFrame({"a": [1.0, 2.0]}))
        raise RuntimeError("boom")
    assert not out.exists()
    assert not list(tmp_path.iterdir())


def test_memory_budget_sets_the_chunk_size():
    assert parse_bytes("512MiB") == 512 * 2**20
    assert parse_bytes("1.5g") == int(1.5 * 2**30)
    assert parse_bytes(4096) == 4096
    for bad in ("lots", "-1GB", 0, "3 parsecs"):
        with pytest.raises(ValueError, match="memory budget"):
            parse_bytes(bad)
    small, big = chunk_rows_for_budget("64MiB", 30), chunk_rows_for_budget("1GiB", 30)
    assert 256 <= small < big
    with pytest.raises(ValueError, match="rows per chunk"):
        chunk_rows_for_budget("10KiB", 30)
    with pytest.raises(ValueError, match="chunk_rows"):
        streaming.resolve_chunk_rows(0, None, 3)


def test_cli_fit_streaming_and_chunked_sample(tmp_path):
    df = _frame(1200)
    data = tmp_path / "d.csv"
    df.to_csv(data, index=False)
    model = tmp_path / "m.safetensors"
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "fit",
            str(data),
            "--target",
            "y",
            "-o",
            str(model),
            "--model",
            "vae",
            "--epochs",
            "1",
            "--chunk-rows",
            "300",
            "-q",
        ],
    )
    assert res.exit_code == 0, res.output
    out = tmp_path / "rows.parquet"
    res = runner.invoke(
        app,
        [
            "sample",
            str(model),
            "-n",
            "2100",
            "--chunk-rows",
            "1000",
            "-o",
            str(out),
            "--class",
            "rare",
        ],
    )
    assert res.exit_code == 0, res.output
    rows = pd.read_parquet(out)
    assert len(rows) == 2100 and "class" not in rows and set(rows["y"]) == {"rare"}
    assert rows["b"].dtype == np.int64  # CSV integers (read as floats) decode as integers
    res = runner.invoke(
        app, ["fit", str(data), "--target", "nope", "-o", str(tmp_path / "n.st"), "--stream", "-q"]
    )
    assert res.exit_code == 2 and "nope" in res.output
