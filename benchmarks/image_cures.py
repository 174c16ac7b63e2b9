"""GAN cures on long-tailed digits: the conditional DCGAN, one switch at a time (issue 19).

The image half of ``docs/gan-cures.md`` (the ring of 8 Gaussians is ``gan_cures.py``). It trains
the class-conditional DCGAN (family ``dcgan``) exactly as ``benchmarks/images.py`` does on
scikit-learn's 8x8 digits made long-tailed at r = 100 and r = 10 (the same balanced held-out
split, the same tails, 1,000 steps of 64, seed 0), under:

- ``reference``: the images benchmark's setting (DiffAugment translation + cutout, EMA 0.99 of
  G, class-balanced batches, hinge loss, spectral norm and projection D, Adam (0.0, 0.9), 2e-4);
- each setting one switch away from it (:func:`settings`): against exploding gradients
  (gradient clipping, Adam betas, two time-scale learning rates, two critic steps), against
  mode collapse (DiffAugment off or one of its two operations, EMA off) and against imbalance
  (natural or square-root class frequencies in the batches; natural batches with balanced loss
  weights, one switch away from ``natural``).

Every setting is checked (names and values) before any training: an unknown switch stops the
run with the accepted names. Each fitted model fills every class up to the largest one
(``sampling_strategy="auto"``) and is judged as ``images.py`` judges it (imported, not copied):
balanced accuracy and minority recall (3 rarest classes) of a logistic regression on the
rebalanced pixels, and FD / precision / recall / density / coverage of the added images of the
rarest classes in the feature CNN's space. From the fit it records the health check's per-class
diversity ratio of the 3 rarest classes (``history_.health``; None where a class has one real
image), the classes it flagged as collapsed and whether its mode-collapse warning fired, the
median and largest gradient norm of D and G (before clipping), D's mean loss over the last 10 %
of steps, NaN rollbacks, fit seconds and the 1-minute load average after the fit.

Run: ``OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/image_cures.py`` (one thread;
a fit took ~30 s beside another busy process, ``n_critic=2`` ~45 s: ~14 minutes a seed).
``--only NAME,...`` for some settings, ``--seeds 0,1`` for more generative seeds (the data stay
seed 0's; a run's rows join the stored ones), ``--resume`` to keep the rows of a stopped run
(``partial.jsonl``, one JSON line per finished row), ``--report`` to rewrite ``summary.md``
from ``results.csv``, ``--quick`` for a smoke run (30 steps, written to
``results/image-cures_quick``, not kept). Writes ``results.csv``, ``runs.json``, ``summary.md``
and sample grids (seed 0) under ``benchmarks/results/image-cures/``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any, NamedTuple

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy / torch start their pools

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from benchmarks.images import (  # noqa: E402
    GEN_MODELS,
    LOADERS,
    N_RARE,
    SEED,
    TEST_PER_CLASS,
    Rows,
    mixed_resample,
    record,
    split,
)
from benchmarks.transfer import markdown, run_info  # noqa: E402
from genbalance.data.images import make_long_tailed  # noqa: E402
from genbalance.evaluation.images import ImageFeatureExtractor  # noqa: E402
from genbalance.models.conv_gan import DEFAULTS as DCGAN_DEFAULTS  # noqa: E402
from genbalance.models.conv_gan import ConvGAN  # noqa: E402
from genbalance.sampling.images import ImageOverSampler  # noqa: E402
from genbalance.training.config import TrainerConfig  # noqa: E402

FAMILY = "dcgan"
DATASET = "digits"
RATIOS = (100, 10)
BATCH = 64
#: the images benchmark's dcgan: training steps, model options, trainer options
STEPS, MODEL, TRAINER = next(
    (steps, dict(m), {"batch_size": BATCH, **t}) for f, steps, m, t in GEN_MODELS if f == FAMILY
)
QUICK_STEPS = 30
WARM = 500  # the warm-start setting's conditional-VAE steps (BAGAN-style initialisation)
FEATURE_EPOCHS = {False: 30, True: 3}  # the feature CNN's epochs (images.py's), by --quick
CLIP = 1.0
OUT = ROOT / "benchmarks" / "results" / "image-cures"
QUICK_OUT = OUT.parent / "image-cures_quick"


class Setting(NamedTuple):  # not a dataclass: tests load this script outside sys.modules
    name: str
    group: str
    switch: str  # what was changed, in words
    model: dict[str, Any] = {}  # over the reference's model_options (never mutated)
    trainer: dict[str, Any] = {}  # over the reference's trainer_options
    reference: str = "reference"  # the row its deltas are taken against


def settings() -> list[Setting]:
    """The reference and every setting one switch away from it (or from ``reference``)."""
    grads = "against exploding gradients"
    modes = "against mode collapse"
    imb = "against imbalance"
    warm = "head-to-tail transfer"
    natural = {"sampling": "natural"}
    critic = 2 if DCGAN_DEFAULTS["n_critic"] == 1 else 1  # the other of one or two D steps
    steps = {"n_critic": critic}
    # the other of translation alone or with cutout, and of a warm or a cold start
    if DCGAN_DEFAULTS["aug_policy"] == "translation":
        aug = Setting(
            "translation+cutout",
            modes,
            "aug_policy=translation,cutout",
            {"aug_policy": "translation,cutout"},
        )
    else:
        aug = Setting(
            "translation-only", modes, "aug_policy=translation", {"aug_policy": "translation"}
        )
    if DCGAN_DEFAULTS["warm_start_steps"] == 0:
        start = Setting(
            "warm-start",
            warm,
            f"warm_start_steps={WARM} (G first a VAE decoder)",
            {"warm_start_steps": WARM},
        )
    else:
        start = Setting(
            "cold-start", warm, "warm_start_steps=0 (no warm start)", {"warm_start_steps": 0}
        )
    return [
        Setting("reference", "reference", "as images.py: warm start, DiffAugment, EMA 0.99, "
                "balanced", {}),
        Setting("grad-clip", grads, f"grad_clip={CLIP:g}", trainer={"grad_clip": CLIP}),
        Setting("betas-0.5", grads, "Adam betas (0.5, 0.999)", {"betas": (0.5, 0.999)}),
        Setting("ttur", grads, "lr_d 4e-4, lr_g 1e-4 (TTUR)", {"lr_d": 4e-4, "lr_g": 1e-4}),
        Setting(f"n-critic-{critic}", grads, f"n_critic={critic} (D steps per G step)", steps),
        Setting("no-augment", modes, "augment=False (no DiffAugment)", {"augment": False}),
        aug,
        Setting("cutout-only", modes, "aug_policy=cutout", {"aug_policy": "cutout"}),
        Setting("no-ema", modes, "ema=None (raw G weights)", trainer={"ema": None}),
        Setting("natural", imb, "sampling=natural (class frequencies)", trainer=natural),
        Setting("sqrt", imb, "sampling=sqrt (sqrt of frequencies)", trainer={"sampling": "sqrt"}),
        start,
        Setting("warm-start-long", warm, f"warm_start_steps={2 * WARM}",
                {"warm_start_steps": 2 * WARM}),
        Setting("anchor-1", warm, "recon_weight=1 (VAE-GAN: the warm start's encoder kept)",
                {"recon_weight": 1.0}),
        Setting("d-warmup-200", warm, "d_warmup_steps=200 (D alone against the warm G first)",
                {"d_warmup_steps": 200}),
        Setting("d-warmup-500", warm, "d_warmup_steps=500", {"d_warmup_steps": 500}),
        Setting(
            "natural+class-weight",
            imb,
            "natural batches + class_weight=balanced (loss weights)",
            trainer={**natural, "class_weight": "balanced"},
            reference="natural",
        ),
    ]  # fmt: skip


# ====================================================================== checks
def model_options(s: Setting) -> dict[str, Any]:
    return {**MODEL, **s.model}


def trainer_options(s: Setting) -> dict[str, Any]:
    return {**TRAINER, **s.trainer}


def effective(s: Setting) -> dict[str, Any]:
    """Every DCGAN and trainer setting a fit under ``s`` uses (defaults filled in)."""
    trainer = {f.name: f.default for f in dataclasses.fields(TrainerConfig)}
    return {
        "model": {**DCGAN_DEFAULTS, **model_options(s)},
        "trainer": {**trainer, **trainer_options(s)},
    }


def check_setting(s: Setting, ref: Setting | None = None) -> None:
    """Refuse a switch the DCGAN or the trainer does not have, a bad value (with the accepted
    names), or a setting that changes nothing against its reference ``ref`` (before any
    training)."""
    unknown = set(s.model) - set(DCGAN_DEFAULTS)
    if unknown:
        raise ValueError(
            f"setting {s.name!r}: unknown dcgan switch {sorted(unknown)}; "
            f"accepted: {sorted(DCGAN_DEFAULTS)}"
        )
    fields = {f.name for f in dataclasses.fields(TrainerConfig)}
    unknown = set(s.trainer) - fields
    if unknown:
        raise ValueError(
            f"setting {s.name!r}: unknown trainer switch {sorted(unknown)}; "
            f"accepted: {sorted(fields)}"
        )
    try:
        ConvGAN.validate_hyper({"image_shape": [1, 8, 8], **model_options(s)})
        TrainerConfig(epochs=1, **trainer_options(s))
    except ValueError as exc:
        raise ValueError(f"setting {s.name!r}: {exc}") from None
    if ref is not None and ref.name != s.name and effective(s) == effective(ref):
        raise ValueError(f"setting {s.name!r} changes nothing against {ref.name!r}")


def choose(only: str | None, all_settings: list[Setting] | None = None) -> list[Setting]:
    """``--only``: the named settings in list order (all when None), each checked; an unknown
    name fails with the known ones."""
    pool = settings() if all_settings is None else all_settings
    by_name = {s.name: s for s in pool}
    if only is not None:
        names = [n.strip() for n in only.split(",") if n.strip()]
        known = [s.name for s in pool]
        bad = [n for n in names if n not in known]
        if bad or not names:
            raise ValueError(
                f"unknown setting(s) {', '.join(bad) or '(none given)'}; "
                f"choose from {', '.join(known)}"
            )
        pool = [s for s in pool if s.name in names]
    for s in pool:
        check_setting(s, by_name.get(s.reference))
    return pool


def parse_seeds(text: str) -> list[int]:
    """``--seeds``: a comma list of non-negative ints."""
    try:
        seeds = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise ValueError(f"--seeds must be a comma list of ints, got {text!r}") from None
    if not seeds or min(seeds) < 0:
        raise ValueError(f"--seeds must be a comma list of ints >= 0, got {text!r}")
    return list(dict.fromkeys(seeds))


def method_name(s: Setting, seed: int) -> str:
    """The row's key in ``Rows`` (data set, ratio, method): the setting, and the seed if not 0."""
    return s.name if seed == SEED else f"{s.name}@{seed}"


# ====================================================================== one fit
def health_columns(sampler: ImageOverSampler, rare: list[int], caught: list) -> dict[str, Any]:
    """The health check's diversity ratio of each rare class (rarest first), the classes it
    flagged, and whether the mode-collapse warning fired during the fit."""
    health = sampler.history_.health or {}
    per_class = health.get("per_class", {})
    labels = [int(c) for c in sampler.classes_]
    out: dict[str, Any] = {}
    for i, c in enumerate(rare, 1):
        ratio = per_class.get(str(labels.index(c)), {}).get("diversity_ratio")
        out[f"div_rare{i}"] = np.nan if ratio is None else round(float(ratio), 4)
    ratios = [v["diversity_ratio"] for v in per_class.values() if v.get("diversity_ratio")]
    out["div_min_all"] = round(min(ratios), 4) if ratios else np.nan
    flagged = [labels[c] for c in health.get("collapsed_classes", [])]
    out["collapsed"] = " ".join(map(str, flagged))
    out["collapse_warning"] = any("mode collapse" in str(w.message) for w in caught)
    return out


def training_columns(history) -> dict[str, Any]:
    """Gradient norms (before clipping), D's end loss, steps and NaN rollbacks of a fit."""
    steps = history.steps

    def norms(key: str) -> list[float]:
        return [s[key] for s in steps if key in s and math.isfinite(s[key])]

    d, g = norms("grad_norm_D"), norms("grad_norm_G")
    tail = steps[-max(1, len(steps) // 10) :]
    return {
        "steps": len(steps),
        "grad_d_median": round(statistics.median(d), 4) if d else np.nan,
        "grad_d_max": round(max(d), 4) if d else np.nan,
        "grad_g_max": round(max(g), 4) if g else np.nan,
        "loss_d_end": round(statistics.fmean(s["loss_d"] for s in tail), 4) if tail else np.nan,
        "rollbacks": history.rollbacks,
    }


def fit_one(
    s: Setting, seed: int, steps: int, ctx: dict, data: tuple, grids: Path, half_ros: bool = False
) -> list[dict]:
    """Train the DCGAN under ``s``, fill every class up to the largest, score the result;
    with ``half_ros``, also score the same model with half of each class's deficit filled
    with duplicates of real images (the images benchmark's ``+half-ros``), as the setting
    ``<name>+half-ros``."""
    X_tr, y_tr = data
    sampler = ImageOverSampler(
        FAMILY,
        epochs=max(1, round(steps * BATCH / len(y_tr))),  # as images.py
        random_state=seed,
        model_options=model_options(s),
        trainer_options=trainer_options(s),
        progress=False,
    )
    t = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sampler.fit(X_tr, y_tr)
    fit_s = time.perf_counter() - t
    load1 = os.getloadavg()[0]
    if seed == SEED:  # one grid per setting and ratio (the other seeds' look alike)
        sampler.save_sample_grid(grids / f"{DATASET}_r{ctx['base']['ratio']}_{s.name}.png")
    extra = {
        **health_columns(sampler, ctx["rare"], caught),
        **training_columns(sampler.history_),
        "fit_seconds": round(fit_s, 1),
        "load1": round(load1, 2),
    }
    variants = [(s, None)]
    if half_ros:
        mixed = s._replace(name=f"{s.name}+half-ros", switch=f"{s.switch}; half duplicates")
        variants.append((mixed, 0.5))
    rows = []
    for v, mix in variants:
        t = time.perf_counter()
        if mix is None:
            X_r, y_r = sampler.resample(X_tr, y_tr)
        else:  # the duplicates are drawn with the data seed, as images.py draws them
            X_r, y_r = mixed_resample(sampler, X_tr, y_tr, mix, SEED)
        base = {**ctx["base"], "setting": v.name, "group": v.group, "seed": seed}
        seconds = fit_s + time.perf_counter() - t
        rows.append(record({**ctx, "base": base}, method_name(v, seed), X_r, y_r, seconds, extra))
    return rows


# ====================================================================== the run
def contexts(quick: bool) -> list[tuple[dict, tuple]]:
    """One scoring context (images.py's ``record`` keys) and training set per ratio."""
    X, y = LOADERS[DATASET]()
    X_pool, y_pool, X_te, y_te = split(X, y, TEST_PER_CLASS[DATASET], SEED)
    extractor = ImageFeatureExtractor(
        epochs=FEATURE_EPOCHS[quick], batch_size=BATCH, random_state=SEED
    ).fit(X_pool, y_pool)
    acc = float((extractor.predict(X_te) == y_te).mean())
    print(f"[{DATASET}] feature CNN: test accuracy {acc:.3f}", flush=True)
    out = []
    for ratio in RATIOS:
        X_tr, y_tr = make_long_tailed(X_pool, y_pool, ratio, random_state=SEED)
        counts = np.bincount(y_tr)
        rare = [int(c) for c in np.argsort(counts, kind="stable")[:N_RARE]]
        print(f"[r={ratio}] train counts {counts.tolist()}; rare classes {rare}", flush=True)
        base = {"dataset": DATASET, "ratio": ratio, "n_train": len(y_tr)}
        ctx = {
            "base": {**base, "feature_cnn_accuracy": round(acc, 4)},
            "n_train": len(y_tr),
            "test": (X_te, y_te),
            "rare": rare,
            "extractor": extractor,
        }
        out.append((ctx, (X_tr, y_tr)))
    return out


def run(
    chosen: list[Setting],
    seeds: list[int],
    quick: bool,
    out: Path,
    store: Rows,
    steps: int | None = None,
    half_ros: bool = False,
) -> None:
    """Every chosen setting and seed on each ratio; rows go to ``store`` as they finish
    (``steps``: the adversarial steps of a fit, the images benchmark's by default;
    ``half_ros``: each fit also scored with half duplicates, see :func:`fit_one`)."""
    (out / "grids").mkdir(parents=True, exist_ok=True)
    steps = QUICK_STEPS if quick else (steps or STEPS)
    for ctx, data in contexts(quick):
        for s in chosen:
            for seed in seeds:
                if store.has(ctx, method_name(s, seed)):
                    print(f"  {method_name(s, seed)}: kept from the stopped run (--resume)")
                    continue
                for row in fit_one(s, seed, steps, ctx, data, out / "grids", half_ros):
                    store.add(row)


def merge(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """The stored rows updated with a run's: a row the run made again (same ratio and method)
    is replaced, the others are kept (so ``--only`` / ``--seeds`` add to a full run). Ratios
    in :data:`RATIOS` order, settings in :func:`settings` order, then seeds."""
    key = ["ratio", "method"]
    fresh = set(map(tuple, new[key].astype(str).to_numpy()))
    keep = ~old[key].astype(str).apply(tuple, axis=1).isin(fresh)
    df = pd.concat([old[keep], new], ignore_index=True)
    order = {s.name: i for i, s in enumerate(settings())}
    df["_r"] = df["ratio"].map({r: i for i, r in enumerate(RATIOS)})
    df["_s"] = df["setting"].map(order).fillna(len(order))
    df = df.sort_values(["_r", "_s", "seed"], kind="stable")
    return df.drop(columns=["_r", "_s"]).reset_index(drop=True)


# ====================================================================== summary
#: (column, heading, format) of the summary's mean columns after the score deltas
MEANS = [
    ("fd", "fd", ".1f"),
    ("precision", "prec.", ".2f"),
    ("recall", "rec.", ".2f"),
    ("density", "dens.", ".2f"),
    ("coverage", "cov.", ".2f"),
    ("div_rare1", "div r1", ".2f"),
    ("div_rare2", "div r2", ".2f"),
    ("div_rare3", "div r3", ".2f"),
    ("n_flagged", "flagged", ".1f"),
    ("grad_d_max", "max grad D", ".3g"),
    ("fit_seconds", "fit s", ".0f"),
    ("load1", "load", ".1f"),
]
SCORES = [("balanced_accuracy", "bal. acc"), ("minority_recall", "min. recall")]


def _mean(values: pd.Series, fmt: str, spread: bool = False) -> str:
    """Mean of the finite values (empty when none), and (min-max) with ``spread``."""
    v = pd.to_numeric(values, errors="coerce").dropna()
    if v.empty:
        return ""
    text = format(v.mean(), fmt)
    return f"{text} ({format(v.min(), fmt)}-{format(v.max(), fmt)})" if spread else text


def _paired(rows: pd.DataFrame, ref: pd.DataFrame, key: str) -> str:
    """Mean change against the reference on the same seeds, and on how many it rose."""
    both = rows.merge(ref, on="seed", suffixes=("", "_ref"))
    if both.empty:
        return ""
    d = both[key] - both[f"{key}_ref"]
    text = f"{d.mean():+.3f}"
    return f"{text} ({int((d > 0).sum())}/{len(d)} up)" if len(d) > 1 else text


def table(part: pd.DataFrame, by_name: dict[str, Setting]) -> str:
    """One ratio's settings as a pipe table: means over seeds (min-max of the scores),
    changes against each setting's reference paired by seed, collapse flags and warnings."""
    part = part.assign(n_flagged=part["collapsed"].fillna("").astype(str).str.split().str.len())
    out = []
    for name, rows in part.groupby("setting", sort=False):
        s = by_name.get(name)
        ref_name = s.reference if s else "reference"
        ref = part[part["setting"] == ref_name]
        many = len(rows) > 1
        cells = {"setting": name, "switch": s.switch if s else "", "seeds": str(len(rows))}
        for key, head in SCORES:
            cells[head] = _mean(rows[key], ".3f", many)
        for key, head in SCORES:
            cells[f"d {head}"] = "" if name == ref_name else _paired(rows, ref, key)
        cells.update({head: _mean(rows[key], fmt) for key, head, fmt in MEANS if key in rows})
        warned = rows["collapse_warning"].astype(str).str.lower().eq("true").sum()
        cells["warned"] = f"{warned}/{len(rows)}"
        out.append(cells)
    return markdown(pd.DataFrame(out), index=False)


def per_seed(part: pd.DataFrame) -> str:
    """Balanced accuracy / minority recall of every setting on every seed."""
    cell = (
        part["balanced_accuracy"].map("{:.3f}".format)
        + " / "
        + part["minority_recall"].map("{:.3f}".format)
    )
    wide = part.assign(cell=cell).pivot(index="setting", columns="seed", values="cell")
    wide = wide.reindex(list(dict.fromkeys(part["setting"]))).fillna("")
    wide.columns = [f"seed {c}" for c in wide.columns]
    return markdown(wide)


def summarise(df: pd.DataFrame, runs: list[dict] | None = None) -> str:
    by_name = {s.name: s for s in settings()}
    lines = [
        "# GAN cures on long-tailed digits: the conditional DCGAN, one switch at a time",
        "",
        "Written by `benchmarks/image_cures.py` (read in `docs/gan-cures.md`). Digits 8x8, "
        f"{STEPS} steps of {BATCH} per fit (unless a run below says other `steps`), scored "
        "as `benchmarks/images.py` scores it; "
        "mean over the seeds (the data are seed 0's; the seed is the GAN's). "
        "`bal. acc` / `min. recall`: logistic regression on the rebalanced pixels (minority "
        f"recall: the {N_RARE} rarest classes), mean (min-max); `d ...`: mean change against "
        "the setting's reference on the same seeds (`natural+class-weight` against "
        "`natural`, every other against `reference`) and on how many seeds it rose; fd / "
        "prec. / rec. / dens. / cov.: the added images of the rarest classes vs held-out real "
        "ones (CNN features; lower fd is better); `div r1..r3`: the health check's diversity "
        "ratio of the rarest, second and third rarest class (empty: one real image, not "
        "judged); `flagged`: classes (of 10) the health check flagged as collapsed; "
        "`warned`: seeds whose fit raised the mode-collapse warning; `max grad D`: largest "
        "gradient norm of D over training (before clipping); `fit s`: fit wall time on one "
        "thread of a shared 2-core machine; `load`: 1-minute load average after the fit.",
        "",
    ]
    for info in runs or []:
        lines.append("- run: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    lines += [""] if runs else []
    for ratio, part in df.groupby("ratio", sort=False):
        n = int(part["n_train"].iloc[0])
        lines += [f"## r = {ratio} ({n} training images)", "", table(part, by_name), ""]
        lines += ["Per seed, bal. acc / min. recall:", "", per_seed(part), ""]
    return "\n".join(lines)


# ====================================================================== main
def read_runs(out: Path) -> list[dict]:
    """The runs whose rows ``results.csv`` holds (``runs.json``: date, commit, versions,
    settings and seeds of each)."""
    path = out / "runs.json"
    return json.loads(path.read_text()) if path.exists() else []


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[Setting], list[int]]:
    """The options, the checked settings and the seeds; a bad one exits (code 2) before any
    training."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help=f"smoke run: {QUICK_STEPS} steps")
    ap.add_argument("--only", help="comma list of setting names (default: all)")
    ap.add_argument("--seeds", default=str(SEED), help=f"comma list (default {SEED})")
    ap.add_argument("--out", help=f"output folder (default {OUT}; --quick: {QUICK_OUT})")
    ap.add_argument("--resume", action="store_true", help="keep the rows in partial.jsonl")
    ap.add_argument("--report", action="store_true", help="only rewrite summary.md")
    ap.add_argument(
        "--steps", type=int, default=STEPS, help=f"adversarial steps a fit (default {STEPS})"
    )
    ap.add_argument(
        "--half-ros",
        action="store_true",
        help="also score each fit with half of each deficit filled by duplicates of real images",
    )
    args = ap.parse_args(argv)
    if args.steps < 1:
        ap.error(f"--steps must be >= 1, got {args.steps}")
    try:
        chosen, seeds = choose(args.only), parse_seeds(args.seeds)
    except ValueError as exc:
        ap.error(str(exc))
    args.out = Path(args.out) if args.out else (QUICK_OUT if args.quick else OUT)
    return args, chosen, seeds


def main(argv: list[str] | None = None) -> pd.DataFrame:
    args, chosen, seeds = parse_args(argv)
    out: Path = args.out
    if args.report:
        df = pd.read_csv(out / "results.csv")
        (out / "summary.md").write_text(summarise(df, read_runs(out)) + "\n")
        return df
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    out.mkdir(parents=True, exist_ok=True)
    info = {
        **run_info(),
        "settings": "all" if args.only is None else ",".join(s.name for s in chosen),
        "seeds": ",".join(map(str, seeds)),
        "steps": str(QUICK_STEPS if args.quick else args.steps),
        "half-ros": str(args.half_ros),
    }
    store = Rows(out / "partial.jsonl", resume=args.resume)
    t0 = time.perf_counter()
    with threadpool_limits(1):
        run(chosen, seeds, args.quick, out, store, args.steps, args.half_ros)
    df, runs = store.frame(), [info]
    if (out / "results.csv").exists():
        df, runs = merge(pd.read_csv(out / "results.csv"), df), [*read_runs(out), info]
    df.to_csv(out / "results.csv", index=False, float_format="%.4f")
    (out / "runs.json").write_text(json.dumps(runs, indent=1) + "\n")
    (out / "summary.md").write_text(summarise(df, runs) + "\n")
    store.partial.unlink(missing_ok=True)  # now in results.csv
    print(summarise(df, runs))
    print(f"total {time.perf_counter() - t0:.0f} s")
    return df


if __name__ == "__main__":
    main()
