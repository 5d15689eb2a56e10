"""Run one fuzz target under atheris (libFuzzer): `python -m tests.fuzz.run TARGET [libFuzzer flags] [CORPUS_DIR...]`.

The package is instrumented for coverage; sqlglot, aiohttp and the standard library are not.
`scripts/fuzz TARGET SECONDS` is the usual way in; tests/fuzz/test_fuzz.py runs a bounded pass.
"""

from __future__ import annotations

import sys


def main() -> None:
    import atheris

    if len(sys.argv) < 2:
        sys.exit("usage: python -m tests.fuzz.run TARGET [libFuzzer flags] [CORPUS_DIR...]")
    name = sys.argv.pop(1)
    with atheris.instrument_imports(include=["spacetimedb", "tests.fuzz"]):
        from tests.fuzz.targets import TARGETS

    target = TARGETS[name]
    target(b"")  # build the shared fixtures before fuzzing starts
    atheris.Setup(sys.argv, target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
