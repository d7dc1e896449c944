"""The typed public API: annotated signatures where the API is declared typed, mypy clean on the package."""

import ast
import importlib.util
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

#: Modules whose public functions and methods carry full annotations (parameters and return).
TYPED = ["sparse", "models", "metrics", "relu", "random", "parallel", "registry", "certify/base", "certify/eigen", "certify/conditions", "certify/relu", "recovery/solver", "recovery/loop", "recovery/steps", "recovery/result", "fitting",
         "recovery/greedy", "validation", "typing", "estimators", "torch_nn", "sweep", "operators/base", "operators/dense",
         "operators/gaussian", "operators/relu_pattern", "operators/stack", "operators/pattern_cache", "operators/restricted_pattern"]


def _unannotated(path):
    tree = ast.parse(path.read_text())
    missing = []

    def visit(body, prefix=""):
        for node in body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                visit(node.body, prefix + node.name + ".")
            elif isinstance(node, ast.FunctionDef) and (not node.name.startswith("_") or node.name == "__init__"):
                args = [a for a in node.args.args + node.args.kwonlyargs if a.arg not in ("self", "cls")]
                if node.returns is None or any(a.annotation is None for a in args):
                    missing.append(prefix + node.name)

    visit(tree.body)
    return missing


@pytest.mark.parametrize("module", TYPED)
def test_public_api_is_annotated(module):
    assert _unannotated(ROOT / "sparsecert" / f"{module}.py") == []


def test_the_annotation_check_can_fail(tmp_path):
    bad = tmp_path / "m.py"
    bad.write_text("def f(x) -> int:\n    return x\n\nclass C:\n    def g(self, y: int):\n        return y\n")
    assert _unannotated(bad) == ["f", "C.g"]


def test_package_is_marked_typed():
    assert (ROOT / "sparsecert" / "py.typed").is_file()


@pytest.mark.slow
def test_mypy_is_clean_on_the_package():
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed (it is in the test extra)")
    out = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-4000:]
