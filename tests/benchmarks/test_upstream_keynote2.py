"""benchmarks/upstream_keynote2.py: its arguments, the harness's environment per setting, and the export.

No npm, no server: the script's real run needs the harness installed (the lead runs it by hand).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "upstream_keynote2.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("upstream_keynote2", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


kn2 = _load()


def test_defaults_are_the_issue_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SPACETIMEDB_SOURCE", raising=False)
    opts = kn2.parse_args(["--data-dir", str(tmp_path)])
    assert [str(s) for s in opts.settings] == ["16x1", "16x40", "4x1"]
    assert opts.alphas == [0.0, 1.5] and opts.seconds == 30 and opts.accounts == 100_000
    assert opts.protocol == "v2" and opts.systems == ["spacetimedb", "sqlite_rpc"]
    assert opts.source == kn2.REPO / kn2.DEFAULT_SOURCE_REL
    monkeypatch.setenv("SPACETIMEDB_SOURCE", str(tmp_path / "src"))
    assert kn2.parse_args(["--data-dir", str(tmp_path)]).source == tmp_path / "src"


@pytest.mark.parametrize(
    "bad",
    [["--settings", "16"], ["--settings", "16x0"], ["--settings", "ax2"], ["--settings", ","],
     ["--alphas", "x"], ["--alphas", "-1"], ["--systems", "postgres_rpc"], ["--seconds", "0"]],
)
def test_bad_arguments_are_usage_errors(bad: list[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        kn2.parse_args(["--data-dir", str(tmp_path), *bad])
    assert exc.value.code == 2


def test_data_dir_is_required() -> None:
    with pytest.raises(SystemExit):
        kn2.parse_args([])


def test_harness_env_pipelines_only_above_one_in_flight(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STDB_CONFIRMED_READS", "0")  # a stray setting from the caller's shell is not passed on
    monkeypatch.setenv("BENCH_PIPELINED", "1")
    opts = kn2.parse_args(["--data-dir", str(tmp_path)])
    one = kn2.harness_env("spacetimedb", "ws://127.0.0.1:1", kn2.Setting(16, 1), opts, tmp_path)
    assert one["STDB_CONFIRMED_READS"] == "1" and one["STDB_MODULE"] == "test-1"
    assert "BENCH_PIPELINED" not in one and "MAX_INFLIGHT_PER_WORKER" not in one
    forty = kn2.harness_env("spacetimedb", "ws://127.0.0.1:1", kn2.Setting(16, 40), opts, tmp_path)
    assert forty["BENCH_PIPELINED"] == "1" and forty["MAX_INFLIGHT_PER_WORKER"] == "40"
    peer = kn2.harness_env("sqlite_rpc", "http://127.0.0.1:2", kn2.Setting(4, 1), opts, tmp_path)
    assert peer["SQLITE_RPC_URL"] == "http://127.0.0.1:2" and "STDB_URL" not in peer


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def test_export_takes_the_harness_and_our_package_files(tmp_path: Path) -> None:
    src = tmp_path / "stdb"
    (src / "templates" / "keynote-2" / "src").mkdir(parents=True)
    (src / "templates" / "keynote-2" / "src" / "cli.ts").write_text("// cli\n")
    (src / "templates" / "keynote-2" / "package.json").write_text('{"dependencies": {"spacetimedb": "workspace:^"}}')
    (src / "templates" / "keynote-2" / "pnpm-lock.yaml").write_text("lock\n")
    (src / "README.md").write_text("outside the harness\n")
    _git(src, "init", "-q")
    _git(src, "add", ".")
    _git(src, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "harness")
    dest = tmp_path / "harness"
    (dest / "node_modules").mkdir(parents=True)
    (dest / "node_modules" / "kept").write_text("installed\n")
    (dest / "stale.ts").write_text("from an older export\n")
    (dest / ".env").write_text("STDB_MODULE=other\n")
    commit = kn2.export_harness(src, "HEAD", dest)
    assert len(commit) == 40
    assert (dest / "src" / "cli.ts").read_text() == "// cli\n"
    assert (dest / "package.json").read_text() == (kn2.PACKAGE_DIR / "package.json").read_text()
    assert '"spacetimedb": "2.10.1"' in (dest / "package.json").read_text()
    assert (dest / "package-lock.json").exists() and (dest / "node_modules" / "kept").exists()
    assert not (dest / "pnpm-lock.yaml").exists() and not (dest / "stale.ts").exists()
    assert not (dest / ".env").exists() and not (dest / "README.md").exists()


def test_summary_gives_ours_over_the_unpipelined_peer() -> None:
    r = kn2.Result
    results = [r(kn2.Setting(16, 1), "spacetimedb", 0.0, 6000.0, 2.0, 9.0),
               r(kn2.Setting(16, 1), "sqlite_rpc", 0.0, 1500.0, 10.0, 40.0),
               r(kn2.Setting(16, 40), "spacetimedb", 0.0, 30000.0, 20.0, 60.0)]
    text = kn2.summary(results, [0.0])
    assert "16x1 alpha 0: ours / sqlite_rpc (16x1) = 4.0x" in text
    assert "16x40 alpha 0: ours / sqlite_rpc (16x1) = 20.0x" in text
