"""The re-layout's promises: old import paths still work (with a DeprecationWarning), the
root stays light, capabilities are declared on the model classes, and no import circle."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import genbalance
from genbalance import compat, models

SRC = Path(__file__).resolve().parents[2] / "src" / "genbalance"


@pytest.mark.parametrize("old", sorted(compat.MOVED))
def test_old_import_paths_warn_and_resolve(old):
    sys.modules.pop(old, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(old)
    assert any(issubclass(w.category, DeprecationWarning) for w in caught), old
    assert dir(module), old  # names of the new homes are listed


def test_old_names_are_the_new_objects():
    from genbalance.sampling.tabular import GenerativeOverSampler
    from genbalance.synthesis.streaming import fit_file

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from genbalance.metrics.fidelity import fidelity_report
        from genbalance.oversampling import GenerativeOverSampler as old
        from genbalance.streaming import fit_file as old_fit_file
    from genbalance.evaluation.fidelity import fidelity_report as new_report

    assert old is GenerativeOverSampler and old_fit_file is fit_file
    assert fidelity_report is new_report


def test_root_lists_public_face_and_stage_packages():
    names = dir(genbalance)
    assert "importlib" not in names and "annotations" not in names
    assert {"Synthesizer", "GenerativeOverSampler", "models", "sampling"} <= set(names)
    assert genbalance.models.get("vae").family == "vae"  # reachable after `import genbalance`


def test_import_genbalance_does_not_import_torch():
    code = "import sys, genbalance; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_capabilities_are_declared():
    assert models.get("vae").has_encoder and not models.get("made").has_encoder
    # the GAN's encoder is a setting: declared, and can_encode follows model_options
    assert models.get("gan").has_encoder and not models.get("gan").can_encode({"encoder": False})
    assert models.get("made").has_likelihood and not models.get("vae").has_likelihood
    for name in models.available():
        family = models.get(name)
        assert family.has_encoder == hasattr(family, "encode"), name
        assert family.has_likelihood == hasattr(family, "log_likelihood"), name


def _module_imports() -> dict[str, set[str]]:
    """Module -> genbalance modules it imports anywhere (top level, inside functions and under
    TYPE_CHECKING alike: a lazy import is still an arrow between layers)."""
    graph: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module.startswith("genbalance"):
                    for alias in node.names:  # `from genbalance import models` names a module
                        sub = f"{node.module}.{alias.name}"
                        where = SRC.parent / sub.replace(".", "/")
                        is_module = where.is_dir() or where.with_suffix(".py").exists()
                        deps.add(sub if is_module else node.module)
        graph[name] = deps
    return graph


def test_no_import_circle():
    graph = _module_imports()
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for dep in graph.get(node, ()):
            if dep not in graph:
                continue
            if state.get(dep) == 1:
                raise AssertionError(" -> ".join([*trail, node, dep]))
            if dep not in state:
                visit(dep, [*trail, node])
        state[node] = 2

    for module in graph:
        if module not in state:
            visit(module, [])


def test_lower_layers_do_not_import_upper_ones():
    upper = {
        "genbalance.spans": ("genbalance.models", "genbalance.training", "genbalance.encoders"),
        "genbalance.utils": ("genbalance.",),
        "genbalance.encoders": ("genbalance.models", "genbalance.training"),
        "genbalance.data": ("genbalance.models", "genbalance.training", "genbalance.synthesis"),
        "genbalance.models": ("genbalance.training", "genbalance.synthesis", "genbalance.cli"),
    }
    for module, deps in _module_imports().items():
        for layer, banned in upper.items():
            if module == layer or module.startswith(layer + "."):
                bad = [d for d in deps if d.startswith(banned)]
                assert not bad, f"{module} imports {bad}"
