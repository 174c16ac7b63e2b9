"""Two versions of the code, the default oversampler's fit timed fold by fold, alternated.

``python benchmarks/ab_speed.py --base /tmp/base/src --out DIR`` times, for every fold of every
dataset, the default ``GenerativeOverSampler().fit_resample`` of the code under ``--base`` (e.g.
``git worktree add /tmp/base HEAD~1``) and of this checkout's ``src``: one subprocess per
(version, dataset), the two versions one after the other for each dataset, one thread, the fit
cache off, the minimum of ``--repeats`` fits per fold. This machine's CPU speed drifts by up to
~1.5x within minutes, so a change is timed interleaved like this rather than in two runs.

Writes ``DIR/ab.json`` (seconds per fold and version) and ``DIR/summary.md`` (medians, 95th
percentiles and the median per-fold ratio base / this).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, os, sys, time, warnings
os.environ["OMP_NUM_THREADS"] = "1"
sys.path.insert(0, sys.argv[1])
from sklearn.model_selection import StratifiedKFold
from genbalance import GenerativeOverSampler
from genbalance.data.datasets import load_keel
warnings.simplefilter("ignore")
X, y = load_keel(sys.argv[2])
repeats, folds, seed = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
splits = list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(X, y))
warm = splits[0][0]  # the process's one-off imports and first-call costs, off the clock
GenerativeOverSampler(random_state=seed, cache=False, trainer_options={"max_steps": 2}
                      ).fit_resample(X.iloc[warm], y.iloc[warm])
out = []
for train, _ in splits:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        GenerativeOverSampler(random_state=seed, cache=False).fit_resample(
            X.iloc[train], y.iloc[train])
        best = min(best, time.perf_counter() - t)
    out.append(best)
print(json.dumps(out))
"""


def time_version(src: str, name: str, repeats: int, folds: int, seed: int) -> list[float]:
    cmd = [sys.executable, "-c", CHILD, src, name, str(repeats), str(folds), str(seed)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def summary(times: dict[str, list[float]], base: str, note: str) -> str:
    old, new = np.array(times["base"]), np.array(times["this"])
    rows = [
        "# Interleaved fit times: base vs this version",
        "",
        f"{note}. Base: `{base}`. {len(new)} folds, one thread, minimum of the repeats per fold.",
        "",
        "| seconds per fold | base | this |",
        "| --- | ---: | ---: |",
        f"| median | {np.median(old):.3f} | {np.median(new):.3f} |",
        f"| 95th percentile | {np.quantile(old, 0.95):.3f} | {np.quantile(new, 0.95):.3f} |",
        "",
        f"Median per-fold ratio base / this: **{np.median(old / new):.3f}x**.",
    ]
    return "\n".join(rows) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the other version's src folder")
    parser.add_argument("--datasets", default="dev", help="dev, all or a comma list")
    parser.add_argument("--out", required=True)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--note", default="")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from genbalance.bench.runner import resolve_datasets

    this = str(ROOT / "src")
    times: dict[str, list[float]] = {"base": [], "this": []}
    for name in resolve_datasets([args.datasets], order="given"):
        for tag, src in (("base", args.base), ("this", this)):
            times[tag] += time_version(src, name, args.repeats, args.folds, args.seed)
        old, new = times["base"][-args.folds :], times["this"][-args.folds :]
        print(f"{name}: base {np.median(old):.2f} s, this {np.median(new):.2f} s", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ab.json").write_text(json.dumps(times, indent=1))
    (out / "summary.md").write_text(summary(times, args.base, args.note))
    print((out / "summary.md").read_text())


if __name__ == "__main__":
    main()
