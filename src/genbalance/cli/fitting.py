"""Options and reports that ``fit`` and ``resample`` share: the ``--init`` warm start
(``--init``, ``--init-columns``; docs/transfer.md), differentially private training
(``--epsilon``, ``--delta``), the table encoder's constraints (``--id-policy``,
``--learn-precision``; docs/constraints.md), ``resample``'s balanced table, and the image
files of tables whose columns hold image paths (``--image-root``; the ``<output
stem>-images`` folder that ``resample`` and ``sample`` write, published whole with the table;
docs/multimodal.md). Nothing here imports torch at import time.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from genbalance.cli.common import check_writable, err, warnings_to_stderr

EpsilonOpt = Annotated[
    float | None,
    typer.Option(help="Differentially private training (DP-SGD) with this target epsilon."),
]
DeltaOpt = Annotated[
    float | None, typer.Option(help="DP target delta (default: below 1 / rows); needs --epsilon.")
]
InitOpt = Annotated[
    Path | None,
    typer.Option(
        "--init",
        help="Start from this model file (.safetensors, same family) trained on a related "
        "table and fine-tune it on this one (docs/transfer.md).",
    ),
]
INIT_COLUMN_POLICIES = ("exact", "shared")
INIT_WITH_STREAM = (
    "--init fine-tunes on a table held in memory; it cannot be combined with --stream, "
    "--chunk-rows or --memory-budget"
)


def parse_init_columns(value: Any) -> str | None:
    """``--init-columns``: exact | shared; anything else is a usage error naming them."""
    if value is None:
        return None
    text = str(value).strip().lower()
    if text not in INIT_COLUMN_POLICIES:
        raise typer.BadParameter(f"{value!r}; accepted: {' | '.join(INIT_COLUMN_POLICIES)}")
    return text


InitColumnsOpt = Annotated[
    Any,
    typer.Option(
        parser=parse_init_columns,
        metavar="exact|shared",
        help="With --init: 'exact' (default; the table must have the model's columns) or "
        "'shared' (shared columns transfer, the others start fresh).",
    ),
]


#: the encoder's ID policies as the CLI spells them (kept equal to ``encoders.constraints.
#: ID_POLICIES`` by a test; written out here so that ``--help`` does not import pandas)
CLI_ID_POLICIES = ("regenerate", "refuse")


def parse_id_policy(value: Any) -> str | None:
    """``--id-policy``: one of the encoder's ID policies; anything else is a usage error."""
    if value is None:
        return None
    from genbalance.encoders.constraints import ID_POLICIES

    text = str(value).strip().lower()
    if text not in ID_POLICIES:
        raise typer.BadParameter(f"{value!r}; accepted: {' | '.join(ID_POLICIES)}")
    return text


IdPolicyOpt = Annotated[
    Any,
    typer.Option(
        parser=parse_id_policy,
        metavar="|".join(CLI_ID_POLICIES),
        help="ID-like columns (docs/constraints.md): 'regenerate' (default: new unique values, "
        "never a real ID) or 'refuse' (stop with an error naming them).",
    ),
]
LearnPrecisionOpt = Annotated[
    bool | None,
    typer.Option(
        "--learn-precision/--no-learn-precision",
        help="Round generated numbers to the decimals the real values use (default: on).",
        show_default=False,
    ),
]


def encoder_options(id_policy: str | None, learn_precision: bool | None) -> dict[str, Any]:
    """The table encoder's options the user gave (an option left out keeps the library's
    default, so model files and the fit cache are those of a call without it)."""
    options: dict[str, Any] = {}
    if id_policy is not None:
        options["id_policy"] = id_policy
    if learn_precision is not None:
        options["learn_precision"] = bool(learn_precision)
    return options


def model_settings(
    epsilon: float | None, delta: float | None, id_policy: str | None, learn_precision: bool | None
) -> dict[str, Any]:
    """The ``privacy`` and ``encoder_options`` arguments that ``fit`` and ``resample`` pass
    alike to the synthesizer or the sampler."""
    return {
        "privacy": privacy_config(epsilon, delta),
        "encoder_options": encoder_options(id_policy, learn_precision) or None,
    }


def privacy_config(epsilon: float | None, delta: float | None) -> Any:
    """A DPConfig from the CLI options (its own checks name a bad value)."""
    if epsilon is None:
        if delta is not None:
            raise ValueError("--delta needs --epsilon (the DP target epsilon)")
        return None
    from genbalance.training.dp import DPConfig

    return DPConfig(epsilon=epsilon, delta=delta)


def warm_start(init: Path | None, columns: str | None) -> Any:
    """The ``--init`` model as a loaded warm start (a bad file is refused before the table is
    read or anything trained), or None."""
    if init is None:
        if columns is not None:
            raise ValueError("--init-columns needs --init (the model file to start from)")
        return None
    from genbalance.synthesis.tabular import Synthesizer
    from genbalance.synthesis.transfer import WarmStart, as_warm_start

    return as_warm_start(WarmStart(init, columns=columns or "exact"), load=Synthesizer.load)


def report_transfer(synth: Any, init: Path | None) -> None:
    """One stderr line: what the warm start reused."""
    report = getattr(synth, "transfer_", None)
    if init is None or not report:
        return
    cols, weights, classes = report["columns"], report["weights"], report["classes"]
    n_cols = len(cols["reused"]) + len(cols["refitted"]) + len(cols["new"])
    err.print(
        f"started from {escape(str(init))}: source codecs for {len(cols['reused'])} of {n_cols} "
        f"columns, {weights['share_copied']:.0%} of the weights copied; new classes "
        f"{escape(str(classes['new'] or 'none'))}"
    )


def report_privacy(synth: Any) -> dict[str, Any] | None:
    spent = getattr(synth, "privacy_", None) or {}
    if spent.get("epsilon") is None:
        return None
    err.print(
        f"differential privacy: epsilon spent {spent['epsilon']:.3f} "
        f"(delta {spent.get('delta', float('nan')):.2g})"
    )
    return dict(spent)


# ------------------------------------------------------------------ tables with image paths
ImageRootOpt = Annotated[
    Path | None,
    typer.Option(
        "--image-root",
        help="Folder that relative image paths in the table start from; a path outside it is "
        "refused (default: the input table's folder; docs/multimodal.md).",
        show_default=False,
    ),
]
#: the folder beside an output table that holds its generated image files
IMAGES_FOLDER_SUFFIX = "-images"
#: the manifest a written images folder holds (what ``--force`` may replace later)
FOLDER_MANIFEST = ".genbalance-folder.json"


def image_root_for(data: Path, given: Path | None) -> Path:
    """``--image-root`` (checked: a folder), else the input table's folder, so that a table
    kept next to its images reads without the flag."""
    if given is None:
        return data.expanduser().resolve().parent
    given = given.expanduser()
    if not given.is_dir():
        what = "is not a folder" if os.path.lexists(given) else "does not exist"
        raise NotADirectoryError(
            f"--image-root {given} {what}; give the folder that the table's relative image "
            "paths start from"
        )
    return given.resolve()


def images_folder(output: Path) -> Path:
    """``out/balanced.csv`` -> ``out/balanced-images``: where the output's new images go."""
    return output.with_name(f"{output.stem}{IMAGES_FOLDER_SUFFIX}")


@dataclass
class ImageOutput:
    """Where a command writes the image files of an output table and how its cells read
    back: ``cells_root`` is the folder the generated rows' cells start from, ``table_root``
    the one the written cells start from (``--image-root`` to read the output back; the
    output's own folder when every image lies under it)."""

    columns: list[str]
    cells_root: Path
    table_root: Path
    folder: Path


def check_images_folder(folder: Path, inputs: list[Path], force: bool) -> None:
    """Before any work: the images folder must be new, empty, or (``--force``) one that
    genbalance wrote, be writable, and hold none of the input's images (a replaced folder
    would take them along)."""
    from genbalance.files import check_folder_target

    check_folder_target(folder, force, FOLDER_MANIFEST)
    check_writable(folder)
    inside = [f for f in inputs if f.is_relative_to(folder.expanduser().resolve())]
    if inside:
        raise ValueError(
            f"the input image {inside[0]} lies in {folder}, the folder this output's images "
            "are written to (replaced as a whole with --force); write the output elsewhere"
        )


def plan_image_output(X: Any, root: Path, output: Path, force: bool) -> ImageOutput | None:
    """The image output of ``resample`` on ``X`` (None without image columns); refuses a bad
    path cell or images folder before training. The written cells start from the deepest
    folder holding the output and every input image."""
    from genbalance.data.records import image_columns, path_cells

    columns = image_columns(X)
    if not columns:
        return None
    files = [f for name in columns for f in path_cells(X, name, root)]
    folder = images_folder(output)
    check_images_folder(folder, files, force)
    home = output.expanduser().resolve().parent
    table_root = Path(os.path.commonpath([home, *files]))
    return ImageOutput(columns, root, table_root, folder)


def write_with_images(
    output: Path,
    plan: ImageOutput,
    chunks: Callable[[Path], Iterable[Any]],
    force: bool,
) -> int:
    """Write the table ``output`` and its images folder whole or not at all; returns the
    number of images written. ``chunks(tmp)`` yields the rows, writing their image files
    into the temporary folder ``tmp``; their cells are rewritten to start from
    ``plan.table_root`` and to name the published folder. The folder is published first
    (:func:`genbalance.files.write_folder`), the table last; should the table fail, the new
    folder is removed, so that no output names missing images."""
    from genbalance.data.records import rebase_path_cells
    from genbalance.data.writer import TableWriter
    from genbalance.files import write_folder

    writer = TableWriter(output, force=force)  # its temporary file; the name comes last
    written: list[str] = []

    def fill(tmp: Path) -> list[str]:
        moved = (tmp, plan.folder)
        for rows in chunks(tmp):
            for name in plan.columns:
                rows[name] = rebase_path_cells(rows[name], plan.cells_root, plan.table_root, moved)
            writer.write(rows)
        files = (p for p in tmp.rglob("*") if p.is_file())
        written.extend(sorted(p.relative_to(tmp).as_posix() for p in files))
        return written

    published = False
    try:
        write_folder(plan.folder, fill, overwrite=force, manifest=FOLDER_MANIFEST)
        published = True
        writer.close()
    except BaseException:
        writer.abort()
        if published:
            shutil.rmtree(plan.folder, ignore_errors=True)
        raise
    return len(written)


def sampled_records(
    synth: Any, n: int, plan: ImageOutput, label: Any, target: str, chunk_rows: int, seed: int
) -> Callable[[Path], Iterator[Any]]:
    """``sample``'s rows of a model of records, chunk by chunk with the seeds of
    :func:`genbalance.synthesis.streaming.sample_to_file` (same call, same rows); array
    columns of a model fitted in Python come out as ``.npy`` files (dtype kept)."""
    import numpy as np

    from genbalance.data.chunks import resolve_chunk_rows

    chunk_rows = resolve_chunk_rows(chunk_rows, None, 1)
    records = synth.records_
    for meta in records.images_:
        if meta.form == "array":
            meta.form, meta.suffix = "file", ".npy"
    code = None if label is None else int(synth.label_codes(label, 1)[0])

    def chunks(tmp: Path) -> Iterator[Any]:
        records.image_dir, records.image_root = tmp, plan.cells_root
        rng = np.random.default_rng(seed)
        for i, start in enumerate(range(0, max(n, 1), chunk_rows)):
            m = min(chunk_rows, n - start)
            codes = np.full(m, code, dtype=np.int64) if code is not None else None
            codes = synth.draw_codes(m, rng) if codes is None else codes
            rows = synth.rows_for_codes(codes, seed + i)
            if len(synth.classes_) > 1:
                rows[target] = synth.classes_[codes]
            yield rows

    return chunks


def sample_plan(synth: Any, output: Path, force: bool) -> ImageOutput:
    """The image output of ``sample``: every image is new and lies under the output's
    folder, so the cells start there and the table reads back without ``--image-root``."""
    folder = images_folder(output)
    check_images_folder(folder, [], force)
    home = output.expanduser().resolve().parent
    return ImageOutput([m.name for m in synth.records_.images_], home, home, folder)


def report_images(plan: ImageOutput | None, output: Path, n_images: int) -> None:
    """One stderr line: where the images went and how the table reads back."""
    if plan is None:
        return
    home = output.expanduser().resolve().parent
    how = (
        "its image paths start from its own folder, so it reads back as it is"
        if plan.table_root == home
        else f"its image paths start from {plan.table_root}: read it back with "
        f"--image-root {plan.table_root}"
    )
    err.print(f"wrote {n_images} images to {escape(str(plan.folder))}; {escape(how)}")


def balanced_table(sampler: Any, frame: Any, X: Any, y: Any, target: str) -> Any:
    """The resampled table in the input's column order, the target's dtype kept."""
    import pandas as pd

    with warnings_to_stderr():
        X_res, y_res = sampler.fit_resample(X, y)
    balanced = X_res.copy()
    # by position, keeping the target's dtype (a categorical target stays categorical)
    balanced[target] = pd.Series(y_res, dtype=y.dtype).set_axis(balanced.index)
    return balanced[list(frame.columns)]


def write_balanced(
    sampler: Any,
    frame: Any,
    X: Any,
    y: Any,
    target: str,
    output: Path,
    plan: ImageOutput | None,
    force: bool,
) -> tuple[Any, int]:
    """``resample``'s work: the balanced table written to ``output``, and the number of
    images written. With image-path columns (``plan``) the generated images go to a
    temporary folder published with the table (:func:`write_with_images`)."""
    if plan is None:
        from genbalance.data.tables import write_table

        balanced = balanced_table(sampler, frame, X, y, target)
        write_table(balanced, output, force=force)
        return balanced, 0
    made: list[Any] = []

    def chunks(tmp: Path) -> Any:
        sampler.set_params(image_dir=tmp)
        made.append(balanced_table(sampler, frame, X, y, target))
        yield made[0]

    n_images = write_with_images(output, plan, chunks, force)
    return made[0], n_images


def images_json(plan: ImageOutput | None, n_images: int) -> dict[str, Any]:
    """The ``images`` entry of ``resample --json`` (none for a table without images)."""
    if plan is None:
        return {}
    return {"images": {"folder": plan.folder, "written": n_images, "image_root": plan.table_root}}


def fit_trainer_options(amp: bool, checkpoint: Path | None) -> dict[str, Any]:
    """``fit``'s trainer options: bf16 mixed precision, and a checkpoint resumed if present."""
    options: dict[str, Any] = {"amp": amp}
    if checkpoint is not None:
        options.update(checkpoint_path=str(checkpoint), checkpoint_every=100, resume=True)
    return options
