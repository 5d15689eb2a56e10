"""The README's module snippet is a real module: it loads and behaves as the text says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from spacetimedb.testing import TestDatabase
from spacetimedb.testing.harness import ReducerUserError, identity

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text("utf-8"), flags=re.S)


def test_the_readme_module_runs(tmp_path: Path) -> None:
    (snippet,) = _python_blocks()
    path = tmp_path / "readme_chat.py"
    path.write_text(snippet, "utf-8")
    db = TestDatabase.load(path)
    ada = identity("ada")
    db.call("send_message", "hello", sender=ada)
    (msg,) = db.table("message")
    assert msg.text == "hello" and msg.sender == ada
    with pytest.raises(ReducerUserError, match="must not be empty"):
        db.call("send_message", "", sender=ada)
    assert db.count("message") == 1


def test_the_readme_starts_with_the_two_commands() -> None:
    text = README.read_text("utf-8")
    first_block = re.search(r"```sh\n(.*?)```", text, flags=re.S)
    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines() if line.strip()]
    assert commands == ["./scripts/serve", "./scripts/test"]
    ci = (README.parent / ".ci" / "run").read_text("utf-8")
    assert "./scripts/test" in ci
