"""What the bundle's JS entry calls at start: `prepare` (load the module), then `attach(glue)`.

`prepare` runs before the memory snapshot is taken at build time (`spacetimedb build`), so a
fresh isolate restored from the snapshot finds the module imported and its codecs compiled;
`attach` runs in every isolate and wires the host's sys functions (JS objects cannot be in a
snapshot).
"""

from __future__ import annotations

import importlib
from typing import Any

from spacetimedb.jshost.bundle_host import BundleHost
from spacetimedb.jshost.glue import CachedGlue, GlueApi
from spacetimedb.module.loader import load_module
from spacetimedb.module.module_def import ModuleDef

_module: ModuleDef | None = None
_host: BundleHost | None = None


def prepare(path: str, name: str) -> None:
    """Load the user's module at `path` (once: a restored snapshot has it already)."""
    global _module, _host
    if _module is None:
        _module = load_module(path, name=name)
        # Build the host and its runner now: every codec and decoder the calls use is compiled
        # before the snapshot is taken, not in each isolate's first call.
        _host = BundleHost(_module, _NO_GLUE, lambda b: b, describe=False)
        _host.prepare_runner()


def attach(glue: GlueApi) -> BundleHost:
    """The hooks' Python side over the host's sys functions (`glue`, from js/entry.mjs)."""
    if _host is None:
        raise RuntimeError("attach before prepare: the bundle's entry calls prepare first")
    to_js = importlib.import_module("pyodide.ffi").to_js
    cached: Any = CachedGlue(glue)
    return _host.adopt(cached, to_js, _latin1)


def _latin1(data: bytes) -> str:
    """Bytes as a str of one char per byte: a str crosses into JS without a proxy."""
    return data.decode("latin-1")


class _NoGlue:
    def __getattr__(self, name: str) -> Any:
        raise RuntimeError("no host yet")


_NO_GLUE: Any = _NoGlue()
