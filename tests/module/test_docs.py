"""Every `python` block of docs/modules.md and docs/testing.md runs, in order, as one module."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

from spacetimedb.module.declarations import collecting

ROOT = Path(__file__).parents[2]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


@pytest.mark.parametrize("doc", ["modules.md", "testing.md"])
def test_doc_snippets_run(doc: str, monkeypatch: pytest.MonkeyPatch) -> None:
    path = ROOT / "docs" / doc
    if not path.exists():
        pytest.skip(f"{doc} not written yet")
    blocks = BLOCK.findall(path.read_text())
    assert blocks, f"no python blocks in {doc}"
    name = f"_docs_{path.stem}"
    module = types.ModuleType(name)
    module.__dict__["__docs_root__"] = str(ROOT)
    monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.chdir(ROOT)
    with collecting():
        for i, src in enumerate(blocks):
            code = compile(src, f"{doc} block {i + 1}", "exec")
            exec(code, module.__dict__)
