"""The fuzz targets in CI: the corpus replayed (every past crash is in it), then a bounded
coverage-guided run per target with atheris (a few seconds each), or hypothesis where atheris is
not installed. A longer run: `scripts/fuzz TARGET SECONDS`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.fuzz.targets import CORPUS, ROOT, TARGETS

try:
    import atheris  # noqa: F401

    HAVE_ATHERIS = True
except ImportError:  # not on this platform (see pyproject.toml): hypothesis instead
    HAVE_ATHERIS = False

#: Inputs per target in the bounded run: a few seconds each on a small machine.
RUNS = {"bsatn": 8000, "client_message": 20000, "sql": 1200, "call_json": 30000}


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_corpus_replays_cleanly(target: str) -> None:
    files = sorted((CORPUS / target).iterdir())
    assert files, f"no seed corpus for {target}"
    for path in files:
        try:
            TARGETS[target](path.read_bytes())
        except Exception as e:  # pragma: no cover - the failure report
            raise AssertionError(f"{path.relative_to(ROOT)}: {type(e).__name__}: {e}") from e


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_ATHERIS, reason="atheris is not installed here (the hypothesis run covers it)")
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_bounded_atheris_run(target: str, tmp_path: Path) -> None:
    # New inputs go to tmp_path (the first corpus directory); the repo's corpus is only read.
    cmd = [
        sys.executable, "-m", "tests.fuzz.run", target,
        f"-runs={RUNS[target]}", "-seed=1", "-max_total_time=20", "-print_final_stats=0",
        f"-artifact_prefix={tmp_path}/", str(tmp_path / "new"), str(CORPUS / target),
    ]  # fmt: skip
    (tmp_path / "new").mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, errors="replace", timeout=120)
    crashes = sorted(p.name for p in tmp_path.glob("crash-*"))
    assert proc.returncode == 0 and not crashes, f"{target}: {crashes}\n{proc.stderr[-4000:]}"


@pytest.mark.skipif(HAVE_ATHERIS, reason="atheris covers this")
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_bounded_hypothesis_run(target: str) -> None:
    seeds = [p.read_bytes() for p in sorted((CORPUS / target).iterdir())]

    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(st.one_of(st.binary(max_size=300), st.sampled_from(seeds).flatmap(_mutations)))
    def run(data: bytes) -> None:
        TARGETS[target](data)

    run()


def _mutations(seed: bytes) -> st.SearchStrategy[bytes]:
    """A seed with one byte changed, cut short, or with bytes inserted."""
    n = len(seed)
    return st.one_of(
        st.tuples(st.integers(0, max(n - 1, 0)), st.integers(0, 255)).map(
            lambda t: seed[: t[0]] + bytes([t[1]]) + seed[t[0] + 1 :]
        ),
        st.integers(0, n).map(lambda i: seed[:i]),
        st.tuples(st.integers(0, n), st.binary(min_size=1, max_size=8)).map(lambda t: seed[: t[0]] + t[1] + seed[t[0] :]),
    )
