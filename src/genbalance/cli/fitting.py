"""Options and reports that ``fit`` and ``resample`` share: the ``--init`` warm start
(``--init``, ``--init-columns``; docs/transfer.md), differentially private training
(``--epsilon``, ``--delta``) and the table encoder's constraints (``--id-policy``,
``--learn-precision``; docs/constraints.md). Nothing here imports torch at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from genbalance.cli.common import err

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
