"""Making a model trainable with DP-SGD: refuse settings that mix rows, swap BatchNorm.

Split from :mod:`genbalance.training.dp` (which re-exports :func:`prepare_model`): these checks
run once before training and read only the model, not the accounting or the hooks.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from torch import nn

from genbalance.utils import user_stacklevel

if TYPE_CHECKING:
    from genbalance.models.base import GenerativeModel


def _require_opacus() -> None:
    try:
        import opacus  # noqa: F401
    except ImportError:  # pragma: no cover - opacus is a dependency
        raise ImportError(
            "differentially private training needs Opacus: pip install 'genbalance[privacy]' "
            "(or pip install opacus)"
        ) from None


def _incompatible_settings(hyper: dict[str, Any]) -> list[str]:
    problems = []
    if hyper.get("spectral_norm"):
        problems.append(
            "spectral_norm=True (its power iteration shares state across the rows "
            "of a batch; set spectral_norm=False)"
        )
    if hyper.get("penalty", "none") != "none":
        problems.append(
            f"penalty={hyper['penalty']!r} (a gradient penalty needs a second "
            "backward pass that per-sample gradients do not support; use "
            "penalty='none' and a loss other than 'wgan-gp')"
        )
    if hyper.get("minibatch_std"):
        problems.append("minibatch_std=True (it mixes the rows of a batch; set it False)")
    if int(hyper.get("pac", 1)) > 1:
        problems.append(
            f"pac={hyper['pac']} (PacGAN packs several rows into one sample; use pac=1)"
        )
    return problems


def _swap_batchnorm(module: nn.Module, prefix: str) -> list[str]:
    """Replace every BatchNorm1d under ``module`` by a LayerNorm, in place.

    The affine parameters are reused (same Parameter objects), so optimisers keep working.
    Returns the dotted names of the swapped layers.
    """
    swapped = []
    for name, child in list(module.named_children()):
        full = f"{prefix}.{name}"
        if isinstance(child, nn.BatchNorm1d):
            ln = nn.LayerNorm(child.num_features, eps=child.eps, elementwise_affine=child.affine)
            if child.affine:
                ln.weight, ln.bias = child.weight, child.bias
            setattr(module, name, ln)
            swapped.append(f"{full} (BatchNorm1d({child.num_features}))")
        else:
            swapped += _swap_batchnorm(child, full)
    return swapped


def prepare_model(model: GenerativeModel) -> tuple[dict[str, tuple[str, ...]], list[str]]:
    """Check that ``model`` can be trained privately and make it so (BatchNorm -> LayerNorm).

    Returns the family's ``dp_parts`` (optimiser name -> part names) and the swapped layers.
    """
    _require_opacus()
    from opacus.validators import ModuleValidator

    dp_parts = getattr(model, "dp_parts", None)
    if not dp_parts:
        raise ValueError(
            f"model family {model.family!r} does not support differentially private training; "
            "privacy= is available for the 'gan' and 'vae' families"
        )
    problems = _incompatible_settings(model.hyper)
    if problems:
        raise ValueError(
            "privacy (DP-SGD) cannot be combined with these model settings: "
            + "; ".join(problems)
            + ". Pick preset=None (or 'plain') and change them in model_options."
        )
    parts = model.parts()
    swapped: list[str] = []
    for names in dp_parts.values():
        for name in names:
            swapped += _swap_batchnorm(parts[name], name)
    if swapped:
        key = getattr(model, "dp_norm_setting", None)
        if key is not None and model.hyper.get(key) == "batch":
            model.hyper[key] = "layer"  # the saved configuration rebuilds LayerNorm
        warnings.warn(
            "privacy: BatchNorm mixes the rows of a batch, so per-sample gradients (and DP-SGD) "
            f"do not exist with it; swapped these layers for LayerNorm: {', '.join(swapped)}"
            + (f" (model setting {key} is now 'layer')" if key else ""),
            UserWarning,
            stacklevel=user_stacklevel(),
        )
    for opt_name, names in dp_parts.items():
        for name in names:
            errors = ModuleValidator.validate(parts[name], strict=False)
            if errors:
                raise ValueError(
                    f"privacy: part {name!r} has layers without per-sample gradients: "
                    + "; ".join(str(e) for e in errors)
                )
        private = {id(p) for name in names for p in parts[name].parameters()}
        opt = model.optimizers()[opt_name]
        stray = [p for g in opt.param_groups for p in g["params"] if id(p) not in private]
        if stray:
            raise ValueError(
                f"privacy: optimiser {opt_name!r} updates {len(stray)} parameters outside "
                f"the private parts {list(names)}"
            )
    return dict(dp_parts), swapped
