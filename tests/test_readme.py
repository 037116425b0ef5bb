"""The README's Quickstart runs as pasted."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_quickstart_runs_as_pasted():
    pytest.importorskip("palmerpenguins")
    text = README.read_text(encoding="utf-8")
    quickstart = text[text.index("## Quickstart") :]
    code = re.search(r"```python\n(.*?)```", quickstart, re.DOTALL).group(1)
    namespace = {}
    exec(compile(code, "README.md quickstart", "exec"), namespace)  # noqa: S102
    assert set(namespace["search"].best_params_) == {
        "multitasknetestimator__sex__weight"
    }
