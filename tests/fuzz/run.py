"""Run one fuzz target under atheris (libFuzzer): `python -m tests.fuzz.run TARGET [libFuzzer flags] [CORPUS_DIR...]`.

The package is instrumented for coverage; sqlglot, aiohttp and the standard library are not.
`scripts/fuzz TARGET SECONDS` is the usual way in; tests/fuzz/test_fuzz.py runs a bounded pass.
"""

from __future__ import annotations

import sys
import types
from typing import Any


def main() -> None:
    import atheris

    if len(sys.argv) < 2:
        sys.exit("usage: python -m tests.fuzz.run TARGET [libFuzzer flags] [CORPUS_DIR...]")
    name = sys.argv.pop(1)
    with atheris.instrument_imports(include=["spacetimedb", "tests.fuzz"]):
        from tests.fuzz.targets import TARGETS

        target = TARGETS[name]
        target(b"")  # build the shared fixtures (and import what they import lazily) instrumented
    if name == "bsatn":
        _instrument_codecs(atheris)
    atheris.Setup(sys.argv, target)
    atheris.Fuzz()


def _instrument_codecs(atheris: Any) -> None:
    """The BSATN codecs are generated source (exec), which import hooks never see: instrument each
    generated function in place so the fuzzer gets coverage from inside the decoders."""
    from tests.fuzz.targets import _codecs

    seen: set[int] = set()
    for codec in _codecs():
        for value in codec.source[1].values():
            if isinstance(value, types.FunctionType) and value.__code__.co_filename.startswith("<bsatn") and id(value) not in seen:
                seen.add(id(value))
                value.__code__ = atheris.instrument_func(value).__code__


if __name__ == "__main__":
    main()
