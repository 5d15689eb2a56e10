"""The Python side of a `spacetimedb build` bundle: a module running inside SpacetimeDB's own V8
module host, in Pyodide.

`spacetimedb build` (the CLI) embeds this package, the rest of the pure-Python layers it needs
(sats, bsatn, module), the user's module and Pyodide into one ES module (js/entry.mjs). At start
the entry calls `boot.prepare` (load the module) and `boot.attach(glue)`: `glue` is a JS object
of thin wrappers over the host's `spacetime:sys@2.0` functions, bytes in and bytes out
(`glue.GlueApi` types it). From then on the host's hooks (`__call_reducer__`, ...) land in
`BundleHost`, which runs module code through the same `ModuleRunner` as our native host, over
`SysDatastore`, the module layer's `Datastore` interface on the sys functions.

Nothing here imports Pyodide: the JS entry passes `to_js` in, so the adapter runs natively too,
over a Python fake of the glue (tests/jshost).
"""
