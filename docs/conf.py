"""Sphinx configuration of the sparsecert documentation (``make docs``)."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))
os.environ.setdefault("NUMBA_DISABLE_JIT", "0")

import sparsecert  # noqa: E402

project = "sparsecert"
author = "the sparsecert developers"
release = version = sparsecert.__version__
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
myst_heading_anchors = 3
autosummary_generate = False
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_mock_imports = ["triton", "cupy"]
numpydoc_show_class_members = False
numpydoc_validation_checks = set()
numpydoc_xref_param_type = False
html_theme = "alabaster"
html_title = f"sparsecert {release}"
html_static_path = []
