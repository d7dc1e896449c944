"""The documentation site: it builds with warnings as errors, and its tutorials run as written."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
TUTORIALS = sorted(p for p in (DOCS / "tutorials").glob("*.md") if p.name != "index.md")


@pytest.mark.slow
def test_docs_build_without_warnings(tmp_path):
    pytest.importorskip("sphinx", reason="the docs extra is not installed")
    pytest.importorskip("numpydoc")
    pytest.importorskip("myst_parser")
    out = subprocess.run([sys.executable, "-m", "sphinx", "-E", "-W", "--keep-going", "-q", "-b", "html", str(DOCS),
                          str(tmp_path / "html")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-4000:]
    assert (tmp_path / "html" / "index.html").is_file() and (tmp_path / "html" / "api" / "core.html").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("page", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_runs_as_written(page, tmp_path, monkeypatch):
    """Every ```python block of a tutorial page, in order, in one namespace, in a scratch folder."""
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)
    assert blocks or page.stem == "reproduce_figure"
    if "torch" in page.read_text() and "import torch" in "".join(blocks):
        pytest.importorskip("torch")
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__tutorial__"}
    for code in blocks:
        exec(compile(code, str(page), "exec"), namespace)  # noqa: S102


ROOT = DOCS.parent
PAGES = sorted((ROOT / "paper_repro").glob("*/README.md"))


def test_readme_is_a_front_door():
    """At most 200 lines, and it links every paper page, the explanations and the benchmarks."""
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200
    for page in PAGES:
        assert f"({page.relative_to(ROOT)})" in text, page
    assert "docs/explanations/index.md" in text and "benchmarks/README.md" in text


@pytest.mark.slow
def test_readme_python_blocks_run(tmp_path, monkeypatch):
    """Every ```python block of the README, in order, in one namespace, in a scratch folder."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    assert len(blocks) >= 2
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__readme__"}
    for code in blocks:
        exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102


@pytest.mark.parametrize("page", PAGES, ids=[p.parent.name for p in PAGES])
def test_every_paper_page_has_its_claims_table_and_its_command(page):
    """Each page: a claims-against-ours table, how to regenerate it, and what is not reproduced; every
    figure and file it links exists."""
    text = page.read_text()
    claims = text.split("## Claims against ours", 1)[1].split("\n## ", 1)[0]
    assert "| claim" in claims and claims.count("\n|") >= 3
    assert "## Regenerate" in text and "python -m paper_repro" in text and "## Not reproduced" in text
    for link in re.findall(r"\]\(([^)#]+)\)", text):
        if not link.startswith("http"):
            assert (page.parent / link).resolve().exists(), f"{page.relative_to(ROOT)} links a missing {link}"


def test_every_link_of_the_readme_and_the_explanations_exists():
    for page in [ROOT / "README.md", *sorted((DOCS / "explanations").glob("*.md"))]:
        for link in re.findall(r"\]\(([^)#]+)\)", page.read_text()):
            if not link.startswith("http"):
                assert (page.parent / link).resolve().exists(), f"{page.relative_to(ROOT)} links a missing {link}"


PAGES_WITH_CODE = sorted(p for p in [*(DOCS / "explanations").glob("*.md"), *PAGES] if "```python" in p.read_text())


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=lambda p: str(p.relative_to(ROOT)))
def test_explanation_and_paper_page_code_runs_as_written(page, tmp_path, monkeypatch):
    """Every ```python block of the explanations and the paper pages, in order, in one namespace."""
    pytest.importorskip("sklearn")
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__page__"}
    for code in blocks:
        exec(compile(code, str(page), "exec"), namespace)  # noqa: S102
