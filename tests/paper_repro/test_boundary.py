"""The boundary between the library and the papers (DESIGN.md): ``sparsecert`` never imports
``paper_repro``; ``paper_repro`` imports only public ``sparsecert`` names (no ``_private`` module or
name); both are found by reading every module's imports, functions' bodies included."""

import ast
import pathlib
import subprocess
import sys

import pytest

TOP = pathlib.Path(__file__).resolve().parents[2]


def _absolute_imports(path, package):
    """``(module, names)`` of every import in ``path`` (relative ones resolved inside ``package``)."""
    rel = path.relative_to(TOP).with_suffix("").parts
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(rel[:-1][: len(rel) - node.level])
                yield ".".join(base + ([node.module] if node.module else [])), [a.name for a in node.names]
            else:
                yield node.module, [a.name for a in node.names]


def _modules(package):
    return sorted((TOP / package).rglob("*.py"))


@pytest.mark.parametrize("path", _modules("sparsecert"), ids=lambda p: str(p.relative_to(TOP)))
def test_the_library_imports_nothing_from_paper_repro(path):
    for module, _ in _absolute_imports(path, "sparsecert"):
        assert module.split(".")[0] != "paper_repro", f"{path.relative_to(TOP)} imports {module}"


@pytest.mark.parametrize("path", _modules("paper_repro"), ids=lambda p: str(p.relative_to(TOP)))
def test_paper_repro_uses_only_public_sparsecert_names(path):
    for module, names in _absolute_imports(path, "paper_repro"):
        if module.split(".")[0] != "sparsecert":
            continue
        private = [p for p in module.split(".") if p.startswith("_")]
        private += [n for n in names if n.startswith("_") and not n.endswith("__")]
        assert not private, f"{path.relative_to(TOP)} imports private {private} from {module}"


def test_the_checks_can_fail(tmp_path):
    """The reader above resolves relative imports: a relative import of a private module is seen."""
    path = TOP / "paper_repro" / "recovery" / "planted.py"
    found = dict(_absolute_imports(path, "paper_repro"))
    assert "paper_repro.common" in found and "sparsecert.planted" in found


def test_importing_the_library_loads_no_figure_code():
    code = ("import sys, sparsecert, sparsecert.cli, sparsecert.sweep, sparsecert.planted, sparsecert.cells; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'paper_repro'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_python_m_paper_repro_is_the_repro_command():
    out = subprocess.run([sys.executable, "-m", "paper_repro", "list"], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines()[0].startswith("certify") and "transfer" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "paper_repro", "plantd"], capture_output=True, text=True)
    assert bad.returncode == 2 and "invalid choice: 'plantd'" in bad.stderr


def test_the_old_experiments_names_warn_and_lead_to_their_new_homes():
    """``sparsecert.experiments`` (before 0.4) still resolves each name, with a FutureWarning naming
    the new module; an unknown name is an AttributeError."""
    import sparsecert.cells
    import sparsecert.experiments as old
    import sparsecert.planted
    import sparsecert.working_set

    for name, home in [("planted_mlp", sparsecert.planted), ("relu_recovery", sparsecert.cells),
                       ("working_set", sparsecert.working_set)]:
        with pytest.warns(FutureWarning, match=f"sparsecert.experiments.{name} moved to {home.__name__}.{name}"):
            assert getattr(old, name) is getattr(home, name)
    with pytest.raises(AttributeError):
        old.no_such_name  # noqa: B018
