"""What the docs tell a new user to do works, and what they say about the system is so."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

from spacetimedb.host.migration import DELETE_DATA_HINT, MANUAL_MIGRATION, MigrationPlan

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def _headings(doc: str) -> list[str]:
    return [m.group(1).strip() for m in re.finditer(r"^#+ (.*)$", (DOCS / doc).read_text("utf-8"), re.M)]


def test_the_refused_migration_message_names_the_options_and_a_section_that_explains_them() -> None:
    text = MigrationPlan(errors=["removing column 'x' from table 't' requires a manual migration"]).describe()
    assert text.splitlines()[0] == MANUAL_MIGRATION and text.splitlines()[-1] == DELETE_DATA_HINT
    assert "--delete-data" in text and "new name" in text and "default" in text
    section = re.search(r"'([^']+)'\)$", DELETE_DATA_HINT)
    assert section is not None and section.group(1) in _headings("modules.md")
    body = (DOCS / "modules.md").read_text("utf-8").split(f"## {section.group(1)}", 1)[1].split("\n## ", 1)[0]
    for option in ("Make the change automatic", "Start from empty tables", "Publish under a new name"):
        assert option in body


def test_testing_md_says_how_to_install_pytest_and_its_pytest_file_passes(tmp_path: Path) -> None:
    text = (DOCS / "testing.md").read_text("utf-8")
    pinned = next(
        dep for dep in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["test"]
        if dep.startswith("pytest==")
    )
    assert f"pip install {pinned}" in text, "testing.md must name the pytest version the project pins"
    blocks = re.findall(r"^```python\n(.*?)^```", text, re.S | re.M)
    pytest_file = next(b for b in blocks if b.startswith("import pytest"))
    (tmp_path / "test_bank.py").write_text(pytest_file)
    # As the doc says: `python -m pytest test_bank.py` from the directory the module paths are relative to.
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
         str(tmp_path / "test_bank.py")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout + done.stderr


def test_the_docs_do_not_promise_that_sdk_connections_reconnect_by_themselves() -> None:
    sdk = ROOT / "tests" / "node" / "node_modules" / "spacetimedb" / "src" / "sdk"
    if sdk.exists():  # the fact the docs rely on: only the providers' ConnectionManager reconnects
        assert "#scheduleReconnect" in (sdk / "connection_manager.ts").read_text()
        assert "scheduleReconnect" not in (sdk / "db_connection_impl.ts").read_text()
    for doc in ("http-api.md", "deployment.md"):
        text = (DOCS / doc).read_text("utf-8")
        assert not re.search(r"SDKs reconnect", text), doc
        assert "does not reconnect" in text, doc
