"""GAN cures on the ring of 8 Gaussians: which switch fixes what, measured one switch at a time.

``.venv/bin/python benchmarks/gan_cures.py`` trains the class-conditional GAN of genbalance on
the ring of 8 Gaussians of ``tests/integration/test_gan_ring.py`` (same data, same small nets,
same batch and step counts; the numbers are copied here, the test is not imported) under:

- ``plain``: the baseline, minimax loss with nothing added (the "plain" preset);
- each single switch added to that baseline: the cures against exploding gradients (gradient
  clipping, R1 / WGAN gradient penalty, spectral norm, Adam betas, two time-scale learning
  rates, EMA) and against mode collapse (annealed instance noise, label smoothing, the other
  losses, minibatch-std, PacGAN, the classic MLP architecture);
- each named preset of ``genbalance.training.stabilizers.PRESETS`` (``plain`` is the baseline);
- two stress settings that make plain minimax training blow up (learning rates 20x and 100x
  the ring's 1e-3), run bare, with clipping, with R1, with spectral norm and with "stable".

For each setting and seed it records the modes covered (of 8) and the share of samples within
3 sigma of a mode (``ring_scores`` of the test), the share of samples that land on a mode of
their class's parity, the largest gradient norm of D and of G over training (the trainer's
per-step ``grad_norm_D`` / ``grad_norm_G`` in ``history.steps``; it is the norm *before*
clipping, and with several critic steps the last one's), D's mean loss over the last 10 % of
steps, NaN rollbacks (``history.rollbacks``) and seconds. Results go to ``--out``
(``results.csv``: one row per setting and seed; ``summary.md``: mean and min-max over seeds and
a verdict against the setting's reference). ``docs/gan-cures.md`` reads them.

Deterministic: data, weights, batches and sampling are seeded (seconds apart).
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any, NamedTuple

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch starts its pools

import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from genbalance import models  # noqa: E402
from genbalance.models.gan import DEFAULTS as GAN_DEFAULTS  # noqa: E402
from genbalance.training.stabilizers import PRESETS, get_recipe  # noqa: E402
from genbalance.training.trainer import Trainer, TrainingDiverged  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "gan-cures"

# ============================================== the ring test's data and nets (copied numbers)
RADIUS, SIGMA = 2.0, 0.05
CENTRES = torch.tensor(
    [
        [RADIUS * math.cos(2 * math.pi * k / 8), RADIUS * math.sin(2 * math.pi * k / 8)]
        for k in range(8)
    ]
)
N_ROWS, N_SAMPLES = 2000, 4000
RING_BATCH = 128
RING_STEPS, WGAN_PRESET_STEPS = 800, 1000  # the test gives the wgan-gp preset 1000 steps
RING_NET = {"g_hidden": [64, 64], "d_hidden": [64, 64], "z_dim": 8, "lr_g": 1e-3, "lr_d": 1e-3}
QUICK_STEPS = 40
MIN_MODES, MIN_SHARE = 7, 0.25  # the ring test's bar for a stabilised GAN
OFF_RING = 0.05  # a mean share under this: the samples are off the ring (verdicts)

CLIP = 1.0  # below the baseline's typical gradient norms (2-7), so that clipping acts


def ring(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """8 Gaussians on a circle; class = parity of the mode, so each class has 4 modes."""
    g = torch.Generator().manual_seed(seed)
    k = torch.randint(0, 8, (n,), generator=g)
    return CENTRES[k] + SIGMA * torch.randn(n, 2, generator=g), k % 2


def ring_scores(samples: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Modes covered (some mass within 3 sigma), share within 3 sigma of any centre, and the
    share of samples whose nearest centre has their class's parity."""
    dist = torch.cdist(samples, CENTRES)
    near = dist.min(1).values < 3 * SIGMA
    counts = torch.bincount(dist.argmin(1)[near], minlength=8)
    return {
        "modes": int((counts > 0).sum()),
        "share": round(float(near.float().mean()), 4),
        "label_match": round(float((dist.argmin(1) % 2 == labels).float().mean()), 4),
    }


# ====================================================================== the settings
class Setting(NamedTuple):  # not a dataclass: tests load this script outside sys.modules
    name: str
    group: str
    switch: str  # what was changed, in words
    gan: dict[str, Any] = {}  # over the baseline's hyper-parameters (never mutated)
    trainer: dict[str, Any] = {}
    reference: str = "plain"  # the setting its verdict compares against
    steps: int = RING_STEPS
    base: str = "plain"  # the preset it starts from


STRESS = {"stress20": 2e-2, "stress100": 1e-1}


def settings() -> list[Setting]:
    out = [Setting("plain", "baseline", "minimax loss, nothing added", reference="")]
    grads = "against exploding gradients"
    out += [
        Setting("clip", grads, f"grad_clip={CLIP:g}", trainer={"grad_clip": CLIP}),
        Setting("r1", grads, "penalty=r1, weight 1", {"penalty": "r1", "penalty_weight": 1.0}),
        Setting(
            "wgan-penalty",
            grads,
            "penalty=wgan (GP on interpolates), weight 10",
            {"penalty": "wgan", "penalty_weight": 10.0},
        ),
        Setting("spectral-norm", grads, "spectral_norm=True", {"spectral_norm": True}),
        Setting("betas-0-0.9", grads, "Adam betas (0.0, 0.9)", {"betas": (0.0, 0.9)}),
        Setting("ttur", grads, "lr_d 2e-3 > lr_g 5e-4 (TTUR)", {"lr_d": 2e-3, "lr_g": 5e-4}),
        Setting("ema", grads, "EMA of G's weights, 0.995", trainer={"ema": 0.995}),
    ]
    modes = "against mode collapse"
    out += [
        Setting("instance-noise", modes, "instance_noise=0.1 (annealed)", {"instance_noise": 0.1}),
        Setting("label-smoothing", modes, "label_smoothing=0.1", {"label_smoothing": 0.1}),
        Setting("nonsaturating", modes, "loss=nonsaturating", {"loss": "nonsaturating"}),
        Setting("hinge", modes, "loss=hinge", {"loss": "hinge"}),
        Setting(
            "wgan-gp-loss", modes, "loss=wgan-gp (GP weight 10, 1 critic step)", {"loss": "wgan-gp"}
        ),
        Setting("lsgan", modes, "loss=lsgan (least squares)", {"loss": "lsgan"}),
        Setting("minibatch-std", modes, "minibatch_std=True", {"minibatch_std": True}),
        Setting("pac-4", modes, "pac=4 (PacGAN)", {"pac": 4}),
        Setting("pac-10", modes, "pac=10 (PacGAN)", {"pac": 10}),
        Setting(
            "mlp-classic",
            modes,
            "architecture=mlp-classic (plain G, BatchNorm in D)",
            {"architecture": "mlp-classic"},
        ),
    ]
    for preset in PRESETS:
        if preset == "plain":
            continue  # the baseline
        steps = WGAN_PRESET_STEPS if preset == "wgan-gp" else RING_STEPS
        out.append(
            Setting(f"preset-{preset}", "preset", f"preset {preset!r}", steps=steps, base=preset)
        )
    for stress, lr in STRESS.items():
        fast = {"lr_g": lr, "lr_d": lr}
        group = f"stress: lr {lr:g} ({lr / RING_NET['lr_g']:.0f}x)"
        bare = f"{stress}-bare"
        out += [
            Setting(bare, group, f"plain at lr {lr:g}", fast, reference="plain"),
            Setting(
                f"{stress}-clip", group, f"+ grad_clip={CLIP:g}", fast, {"grad_clip": CLIP}, bare
            ),
            Setting(
                f"{stress}-r1",
                group,
                "+ penalty=r1, weight 1",
                {**fast, "penalty": "r1", "penalty_weight": 1.0},
                reference=bare,
            ),
            Setting(
                f"{stress}-sn",
                group,
                "+ spectral_norm=True",
                {**fast, "spectral_norm": True},
                reference=bare,
            ),
            Setting(
                f"{stress}-stable", group, "preset 'stable'", fast, reference=bare, base="stable"
            ),
        ]
    return out


# ====================================================================== one run
def train_one(setting: Setting, seed: int, steps: int) -> dict[str, Any]:
    X, y = ring(N_ROWS, seed)
    recipe = get_recipe(setting.base)
    hyper = {**recipe.gan, **RING_NET, **setting.gan}
    if "encoder" in GAN_DEFAULTS:
        hyper["encoder"] = False  # the latent encoder is not trained here (nor needed)
    torch.manual_seed(seed)
    start = time.perf_counter()
    diverged = ""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = models.get("gan")(2, 2, **hyper)
        trainer = Trainer(
            epochs=None,
            max_steps=steps,
            batch_size=RING_BATCH,
            random_state=seed,
            health_check=False,
            log_every=1,
            **{**recipe.trainer, **setting.trainer},
        )
        try:
            history = trainer.fit(model, X, y)
        except TrainingDiverged as exc:  # the model is left at its last good state
            diverged, history = str(exc)[:120], None
    labels = torch.arange(N_SAMPLES) % 2
    samples = model.generate(labels, torch.Generator().manual_seed(seed + 1))
    finite = bool(torch.isfinite(samples).all())
    scores = (
        ring_scores(samples, labels) if finite else {"modes": 0, "share": 0.0, "label_match": 0.0}
    )
    steps_log = history.steps if history is not None else []

    def largest(key: str) -> float:
        vals = [s[key] for s in steps_log if key in s and math.isfinite(s[key])]
        return round(max(vals), 4) if vals else float("nan")

    tail = steps_log[-max(1, len(steps_log) // 10) :]
    loss_d_end = statistics.fmean(s["loss_d"] for s in tail) if tail else float("nan")
    return {
        "setting": setting.name,
        "group": setting.group,
        "seed": seed,
        "steps": steps,
        **scores,
        "max_grad_norm_d": largest("grad_norm_D"),
        "max_grad_norm_g": largest("grad_norm_G"),
        "loss_d_end": round(loss_d_end, 4),
        "rollbacks": history.rollbacks if history is not None else -1,
        "diverged": diverged,
        "seconds": round(time.perf_counter() - start, 2),
    }


COLUMNS = [
    "setting",
    "group",
    "seed",
    "steps",
    "modes",
    "share",
    "label_match",
    "max_grad_norm_d",
    "max_grad_norm_g",
    "loss_d_end",
    "rollbacks",
    "diverged",
    "seconds",
]


# ====================================================================== summary
def _spread(vals: list[float], fmt: str) -> str:
    if len(vals) == 1:
        return format(vals[0], fmt)
    return (
        f"{format(statistics.fmean(vals), fmt)} ({format(min(vals), fmt)}-{format(max(vals), fmt)})"
    )


def verdict(rows: list[dict], ref: list[dict] | None) -> str:
    """A plain reading of the numbers against the reference setting's rows."""
    if ref is None:
        return "reference"
    if not ref:
        return "(reference not run)"
    share = [r["share"] for r in rows]
    rshare = [r["share"] for r in ref]
    modes = [r["modes"] for r in rows]
    rmodes = [r["modes"] for r in ref]
    mean, rmean = statistics.fmean(share), statistics.fmean(rshare)
    d_share = mean - rmean
    d_modes = statistics.fmean(modes) - statistics.fmean(rmodes)
    # under a 5 % share the samples are off the ring, and a spray still touches many modes
    if mean < OFF_RING and rmean < OFF_RING:
        word, sure = "no rescue: both off the ring", True
    elif d_share >= 0.05:
        word = "better" if d_modes > -0.5 else "mixed: more mass on modes, fewer modes"
        sure = min(share) > max(rshare)
    elif d_share <= -0.05:
        if mean >= OFF_RING and d_modes >= 0.5:
            word = "mixed: more modes, less mass on them"
        else:
            word = "worse" if mean >= OFF_RING else "worse: off the ring"
        sure = max(share) < min(rshare)
    elif d_modes <= -1:
        word, sure = "worse", max(modes) < min(rmodes)
    else:
        word, sure = "no clear change", True
    if word.startswith(("better", "worse", "mixed")):
        word += " (every seed)" if sure else " (within seed spread)"
    parts = [f"{word}: share {statistics.fmean(rshare):.2f} -> {statistics.fmean(share):.2f}"]
    if abs(d_modes) >= 0.5:
        parts.append(f"modes {statistics.fmean(rmodes):.1f} -> {statistics.fmean(modes):.1f}")
    for key, who in (("max_grad_norm_d", "D"), ("max_grad_norm_g", "G")):
        a = statistics.fmean(r[key] for r in ref)
        b = statistics.fmean(r[key] for r in rows)
        if a > 0 and (b / a < 0.5 or b / a > 2):
            parts.append(f"max grad {who} {a:.3g} -> {b:.3g}")
    rb = sum(max(r["rollbacks"], 0) for r in rows)
    if rb:
        parts.append(f"{rb} NaN rollbacks")
    if any(r["diverged"] for r in rows):
        parts.append("diverged")
    return "; ".join(parts)


def summarise(rows: list[dict], all_settings: list[Setting]) -> str:
    by: dict[str, list[dict]] = {}
    for r in rows:
        by.setdefault(r["setting"], []).append(r)
    lines = [
        "# GAN cures on the ring of 8 Gaussians",
        "",
        "Written by `benchmarks/gan_cures.py` (read in `docs/gan-cures.md`). Mean over seeds "
        "(min-max). `modes`: of 8 covered; `share`: of samples within 3 sigma of a mode; "
        "`label`: of samples on a mode of their class's parity; `bar`: seeds meeting the ring "
        f"test's bar (>= {MIN_MODES} modes and >= {MIN_SHARE:.0%} share); `max grad D/G`: largest "
        "per-step gradient norm over training (before clipping); `loss D end`: D's mean loss "
        "over the last 10 % of steps; `NaN rb`: NaN rollbacks, all seeds. Verdict: against "
        "the `plain` baseline (stress rows: against their `-bare` row); better / worse = the "
        "mean share moved by >= 0.05 (or the mean modes fell by >= 1); mixed = share and modes "
        "moved apart by >= 0.05 and >= 0.5; 'off the ring' = a mean share under "
        f"{OFF_RING:.0%} (the modes count is then a spray's, not coverage); '(every seed)' when "
        "the share ranges do not overlap.",
        "",
        "| setting | switch | modes | share | label | bar | max grad D | max grad G | loss D end "
        "| NaN rb | s | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    group = None
    for s in all_settings:
        rs = by.get(s.name)
        if not rs:
            continue
        if s.group != group:
            group = s.group
            lines.append(f"| **{group}** | | | | | | | | | | | |")
        bar = sum(r["modes"] >= MIN_MODES and r["share"] >= MIN_SHARE for r in rs)
        lines.append(
            "| "
            + " | ".join(
                [
                    s.name,
                    s.switch,
                    _spread([r["modes"] for r in rs], ".1f"),
                    _spread([r["share"] for r in rs], ".2f"),
                    f"{statistics.fmean(r['label_match'] for r in rs):.2f}",
                    f"{bar}/{len(rs)}",
                    _spread([r["max_grad_norm_d"] for r in rs], ".3g"),
                    _spread([r["max_grad_norm_g"] for r in rs], ".3g"),
                    f"{statistics.fmean(r['loss_d_end'] for r in rs):.3g}",
                    str(sum(max(r["rollbacks"], 0) for r in rs)),
                    f"{statistics.fmean(r['seconds'] for r in rs):.1f}",
                    verdict(rs, by.get(s.reference, []) if s.reference else None),
                ]
            )
            + " |"
        )
    return "\n".join(lines) + "\n"


def read_results(path: Path) -> list[dict]:
    """results.csv back as rows with numbers (for ``--report``)."""
    ints, text = {"seed", "steps", "modes", "rollbacks"}, {"setting", "group", "diverged"}
    with open(path, newline="") as f:
        return [
            {k: v if k in text else int(v) if k in ints else float(v) for k, v in row.items()}
            for row in csv.DictReader(f)
        ]


# ====================================================================== main
def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help=f"smoke run: {QUICK_STEPS} steps, seed 0")
    ap.add_argument("--out", default=str(RESULTS))
    ap.add_argument("--seeds", default=None, help="comma list (default 0,1,2; quick: 0)")
    ap.add_argument("--only", default=None, help="comma list of setting names")
    ap.add_argument(
        "--report", action="store_true", help="only rewrite summary.md from results.csv"
    )
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    seeds = [int(s) for s in (args.seeds or ("0" if args.quick else "0,1,2")).split(",")]
    chosen = settings()
    if args.only:
        wanted = args.only.split(",")
        unknown = set(wanted) - {s.name for s in chosen}
        if unknown:
            ap.error(f"unknown settings {sorted(unknown)}")
        chosen = [s for s in chosen if s.name in wanted]
    out = Path(args.out)
    if args.report:
        rows = read_results(out / "results.csv")
        (out / "summary.md").write_text(summarise(rows, chosen))
        return rows
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    for s in chosen:
        for seed in seeds:
            row = train_one(s, seed, QUICK_STEPS if args.quick else s.steps)
            rows.append(row)
            print(
                f"{s.name:18s} seed {seed}: {row['modes']}/8 modes, share {row['share']:.2f}, "
                f"max grad D {row['max_grad_norm_d']:.3g} G {row['max_grad_norm_g']:.3g}, "
                f"{row['rollbacks']} rollbacks, {row['seconds']} s",
                flush=True,
            )
    with open(out / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    (out / "summary.md").write_text(summarise(rows, chosen))
    return rows


if __name__ == "__main__":
    main()
