"""Sphinx configuration of the sklearn_mtl documentation.

Build, warnings as errors, from the repository's root::

    pip install -e ".[docs]"
    python -m sphinx -W --keep-going -b html docs docs/_build/html

The build is offline: intersphinx is off unless SKLEARN_MTL_DOCS_INTERSPHINX=1
is set (it downloads the inventories of scikit-learn, numpy, torch, ...).
The examples in ``examples/`` are run by sphinx-gallery during the build.
"""

import os
from datetime import date

import sys

from sphinx_gallery.sorting import FunctionSortKey

import sklearn_mtl

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _gallery_order import quickstart_first  # noqa: E402

project = "sklearn_mtl"
author = "sklearn_mtl developers"
copyright = f"{date.today().year}, {author}"
version = release = sklearn_mtl.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    # no sphinx.ext.mathjax: it loads MathJax from a CDN, and these pages
    # must read offline; formulas are written in plain text
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",  # the benchmark pages are the scripts' Markdown output
]
templates_path = ["_templates"]
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py"]
root_doc = "index"

# -- API reference: autosummary + numpydoc -----------------------------------
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": True}
autodoc_typehints = "none"
numpydoc_show_class_members = False  # the autosummary template lists them
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
# Check the public docstrings when building (errors fail the -W build).
numpydoc_validation_checks = {
    "GL02",  # blank line after the opening quotes
    "GL03",  # double blank lines
    "GL06",  # unknown section
    "GL07",  # sections in the wrong order
    "PR01",  # parameter not documented
    "PR02",  # documented parameter not in the signature
    "PR03",  # parameters in the wrong order
    "RT03",  # return value without description
    "SS01",  # no summary
}
numpydoc_validation_exclude = {
    r"\.__init__$",
    r"\.__sklearn_tags__$",
    r"\.__sklearn_is_fitted__$",
    r"\.get_metadata_routing$",  # inherited from scikit-learn
    r"\.set_.*_request$",
}

# -- Example gallery -----------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    # the quickstart first, then by file name
    "within_subsection_order": FunctionSortKey(quickstart_first),
    "matplotlib_animations": False,
    "show_memory": False,
    "doc_module": ("sklearn_mtl",),
    "backreferences_dir": "generated/backreferences",  # for the minigalleries
    "capture_repr": ("_repr_html_", "__repr__"),
}

# -- Cross-references to other projects: opt in, as they need the network ----
if os.environ.get("SKLEARN_MTL_DOCS_INTERSPHINX") == "1":
    extensions.append("sphinx.ext.intersphinx")
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "sklearn": ("https://scikit-learn.org/stable", None),
        "skorch": ("https://skorch.readthedocs.io/en/stable", None),
        "torch": ("https://docs.pytorch.org/docs/stable", None),
        "matplotlib": ("https://matplotlib.org/stable", None),
    }

# -- HTML ------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"sklearn_mtl {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "header_links_before_dropdown": 8,  # the API reference in the top bar
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_show_sourcelink = False
# The section navigation only where a page has sub-pages: elsewhere it is empty.
html_sidebars = {
    page: []
    for page in (
        "index", "install", "user_guide", "methods", "scale_out", "architecture",
        "benchmarks_quality", "benchmarks_speed", "sg_execution_times",
        "contributing",
    )
}  # fmt: skip
