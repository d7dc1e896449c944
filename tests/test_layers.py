"""The core's import layers (DESIGN.md): each module imports only from its own layer or below,
and no private name (``_x``) is imported from another module."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "sparsecert"

#: Layer of each core module or package (L0 checks and kernels, L1 operators, L2 solvers).
LAYERS = {
    "_validation": 0, "_memory": 0, "kernels": 0, "sparse": 0, "random": 0, "parallel": 0, "backend": 0,
    "operators": 1, "testing": 1,
    "recovery": 2,
}


def _module_layer(name):
    return LAYERS.get(name.split(".")[0])


def _imports(path):
    """``(target module relative to sparsecert, names)`` for each import of a sparsecert module."""
    rel = path.relative_to(ROOT).with_suffix("").parts
    package = rel[:-1] if rel[-1] != "__init__" else rel[:-1]
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = list(package[: len(package) - (node.level - 1)])
            target = ".".join(base + ([node.module] if node.module else []))
            names = [a.name for a in node.names]
            if not node.module:  # "from . import kernels"
                for n in names:
                    yield ".".join(base + [n]), []
            else:
                yield target, names
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sparsecert"):
            yield node.module.split(".", 1)[1] if "." in node.module else "", [a.name for a in node.names]


CORE = [p for p in ROOT.rglob("*.py") if _module_layer(".".join(p.relative_to(ROOT).with_suffix("").parts)) is not None]


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(ROOT)))
def test_core_imports_respect_layers(path):
    name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    own = _module_layer(name)
    for target, names in _imports(path):
        layer = _module_layer(target)
        assert layer is not None and layer <= own, f"{name} (layer {own}) imports {target} (layer {layer})"
        private = [n for n in names if n.startswith("_")]
        assert not private or target.split(".")[0] == name.split(".")[0], f"{name} imports private {private} from {target}"


def test_core_modules_found():
    names = {".".join(p.relative_to(ROOT).with_suffix("").parts) for p in CORE}
    assert {"operators.base", "operators.relu_pattern", "recovery.solver", "parallel", "random"} <= names
