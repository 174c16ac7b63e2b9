"""The one interface every generative family implements.

A model lives entirely in *encoded* space: it sees float tensors ``x`` of shape
``(n, data_dim)`` and integer class labels ``y`` in ``[0, n_classes)``. It never sees a
DataFrame (the encoder does that) and never runs its own epoch loop (the trainer does that).

A family provides:
- ``build()`` to create its ``nn.Module`` parts (listed by ``parts()``),
- ``train_step(x, y, ctx)`` for one optimisation step on one batch, using ``ctx.update`` so
  that the trainer's stabilisers (clipping, health checks) apply to every family alike,
- ``generate(y, generator)`` to draw samples in encoded space for the given labels,
- JSON config + named tensors for saving (``get_config`` / ``state_tensors``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Protocol

import torch
from torch import nn

from genbalance.spans import OutputSpan, default_spans

__all__ = ["GenerativeModel", "OutputSpan", "StepContext", "default_spans"]


class StepContext(Protocol):
    """What a family's ``train_step`` may ask of the trainer that runs it.

    Declared here, beside the models that use it, so that models never import the trainer;
    :class:`genbalance.training.trainer.StepContext` is the implementation.
    """

    generator: torch.Generator
    step: int
    progress: float  # fraction of the planned steps done, for annealing
    total_steps: int | None  # the planned steps (None: a time budget ends training)
    sample_weight: torch.Tensor | None
    metrics: dict[str, float]
    plain: bool  # no DP-SGD, no autocast: closed-form gradients + apply_gradients are allowed

    def generator_labels(
        self, y: torch.Tensor, weight: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Labels (and loss weights) for a generator update."""
        ...

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """A fresh batch (e.g. for extra critic steps); sets ``sample_weight`` too."""
        ...

    def update(self, name: str, loss: torch.Tensor, retain_graph: bool = False) -> float:
        """Backward, clip, check, step the optimiser ``name``; returns the gradient norm."""
        ...

    def apply_gradients(
        self, name: str, loss: torch.Tensor | float, norm: float | None = None
    ) -> float:
        """Check ``loss``, then clip, check, step the optimiser ``name`` whose parameters'
        ``.grad`` the family filled itself (the gradients of ``loss``, a tensor or a number;
        ``norm``: their global L2 norm where the family has it already); returns the norm."""
        ...


class GenerativeModel(ABC):
    """Base class of every generative family (GAN, VAE, autoregressive, RBM, diffusion)."""

    family: ClassVar[str] = ""
    # settings a fit starting from another model's weights (a warm start, ``init=``) uses
    # unless the caller sets them: work meant for random weights, switched off
    copied_weights_settings: ClassVar[dict[str, Any]] = {}
    # generated rows the post-training mode-collapse check may draw in all; families that
    # sample sequentially (a network pass per pixel or column, Gibbs chains) ask for fewer
    health_rows: ClassVar[int] = 2048
    #: the largest batch ``batch_size="auto"`` gives a table of this family: past it a step
    #: costs in proportion to the batch while the quality stops improving (the VAE's 128 was
    #: measured on the benchmark's development subset, docs/scale.md)
    auto_batch_max: ClassVar[int] = 512
    # capabilities, declared rather than discovered with hasattr:
    # has_encoder -- ``encode(x, y) -> (mu, logvar)`` and ``decode(z, y)`` into a latent space
    # (latent-neighbour generation needs it); has_likelihood -- ``log_likelihood(x, y)`` exact
    #: the family's settings and their defaults (``validate_hyper`` refuses other names)
    defaults: ClassVar[dict[str, Any]] = {}
    #: the family's name in messages ("VAE" for "vae"); the registry name when empty
    display_name: ClassVar[str] = ""
    has_encoder: ClassVar[bool] = False
    has_likelihood: ClassVar[bool] = False

    def __init__(
        self,
        data_dim: int,
        n_classes: int,
        spans: list[OutputSpan] | None = None,
        **hyper: Any,
    ) -> None:
        if data_dim < 1:
            raise ValueError(f"data_dim must be >= 1, got {data_dim}")
        if n_classes < 1:
            raise ValueError(f"n_classes must be >= 1, got {n_classes}")
        self.data_dim = int(data_dim)
        self.n_classes = int(n_classes)
        self.spans = list(spans) if spans is not None else default_spans(data_dim)
        if sum(s.size for s in self.spans) != self.data_dim:
            raise ValueError(
                f"spans cover {sum(s.size for s in self.spans)} columns but data_dim={data_dim}"
            )
        self.hyper = self.validate_hyper(hyper)
        self.device = torch.device("cpu")
        self.build()

    @classmethod
    def can_encode(cls, options: dict[str, Any]) -> bool:
        """Whether a model built with these settings (``model_options``) has ``encode``."""
        return cls.has_encoder

    # ----------------------------------------------------------------- to implement
    @classmethod
    def validate_hyper(cls, hyper: dict[str, Any]) -> dict[str, Any]:
        """Fill defaults and reject unknown or invalid hyper-parameters (clear errors).

        Families override it to check their values, starting from :meth:`with_defaults`.
        """
        return cls.with_defaults(hyper)

    @classmethod
    def with_defaults(cls, hyper: dict[str, Any], defaults: dict[str, Any] | None = None):
        """``hyper`` over the family's ``defaults``; a setting the family does not know is
        refused with the accepted names (every family's first check, written once)."""
        defaults = cls.defaults if defaults is None else defaults
        unknown = set(hyper) - set(defaults)
        if unknown:
            raise ValueError(
                f"unknown {cls.display_name or cls.family} settings {sorted(unknown)}; "
                f"accepted: {sorted(defaults)}"
            )
        return {**defaults, **hyper}

    @abstractmethod
    def build(self) -> None:
        """Create the networks and optimisers."""

    @abstractmethod
    def parts(self) -> dict[str, nn.Module]:
        """Named modules whose weights make up the model (saved, moved, put in train/eval)."""

    @abstractmethod
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Named optimisers (the trainer lowers their learning rate after a NaN rollback)."""

    @abstractmethod
    def train_step(self, x: torch.Tensor, y: torch.Tensor, ctx: StepContext) -> dict[str, float]:
        """One optimisation step on a batch; returns scalar metrics (losses, D(x), ...)."""

    @abstractmethod
    def generate(self, y: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Samples in encoded space, one per label in ``y`` (no gradients)."""

    # ----------------------------------------------------------------- shared behaviour
    def before_training(self, ctx: StepContext) -> str | None:
        """Work done once before the first training step of a new run (not on resume), e.g.
        a warm start of a generator; batches come from ``ctx.next_batch``. Returns a line for
        the training history's events, or None. A family that trains under DP-SGD must not
        read real rows here (only the trainer's private updates may). Default: nothing."""
        return None

    def has_work_before_training(self, total_steps: int | None) -> bool:
        """Whether :meth:`before_training` does work worth a progress task for a run of
        ``total_steps`` planned steps (None: a time budget). Default: whether the family
        defines its own ``before_training``."""
        return type(self).before_training is not GenerativeModel.before_training

    def after_training(self, generator: torch.Generator) -> None:
        """Work done once, when training has ended and the sampling weights (EMA, if on) are
        in place, e.g. fitting a network to the final generator. Default: nothing."""
        return None

    def sampling_parts(self) -> dict[str, nn.Module]:
        """Modules used by ``generate``; EMA (if on) keeps a shadow of these."""
        return self.parts()

    def to(self, device: torch.device | str) -> GenerativeModel:
        self.device = torch.device(device)
        for module in self.parts().values():
            module.to(self.device)
        for opt in self.optimizers().values():
            for state in opt.state.values():
                for key, value in state.items():
                    if isinstance(value, torch.Tensor):
                        state[key] = value.to(self.device)
        return self

    def train(self, mode: bool = True) -> None:
        for module in self.parts().values():
            module.train(mode)

    def get_config(self) -> dict[str, Any]:
        """Everything needed to rebuild the (untrained) model, as plain JSON."""
        return {
            "family": self.family,
            "data_dim": self.data_dim,
            "n_classes": self.n_classes,
            "spans": [s.to_json() for s in self.spans],
            "hyper": self.hyper,
        }

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Flat name -> tensor map of every part's weights and buffers (for safetensors)."""
        out: dict[str, torch.Tensor] = {}
        for name, module in self.parts().items():
            for key, value in module.state_dict().items():
                out[f"{name}.{key}"] = value.detach().cpu().contiguous()
        return out

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        for name, module in self.parts().items():
            prefix = f"{name}."
            sub = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
            missing = set(module.state_dict()) - set(sub)
            if missing:
                raise ValueError(f"model file lacks weights for {name}: {sorted(missing)[:5]}")
            module.load_state_dict(sub, strict=True)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> GenerativeModel:
        spans = [OutputSpan(int(s["size"]), s["activation"]) for s in config["spans"]]
        return cls(config["data_dim"], config["n_classes"], spans, **config.get("hyper", {}))

    def n_parameters(self) -> int:
        return sum(p.numel() for m in self.parts().values() for p in m.parameters())
