"""`load_module(path)`: import an author's module (one .py file or a package directory) into a ModuleDef."""

from __future__ import annotations

import importlib.util
import itertools
import sys
from pathlib import Path

from spacetimedb.module.declarations import collecting
from spacetimedb.module.errors import ModuleLoadError
from spacetimedb.module.module_def import ModuleDef
from spacetimedb.module.router import Router

_counter = itertools.count()

#: The module-level name holding the module's HTTP routes.
ROUTER_NAME = "router"


def load_module(path: str | Path, *, name: str | None = None) -> ModuleDef:
    """Import the module at `path` and assemble every `@table`/`@reducer`/`@http_handler` it
    declares, with the routes of its top-level `router`.

    Each call imports afresh under a unique internal name, so loading a changed file again (a
    republish) never reuses old classes. Errors in the author's code propagate unchanged
    (SchemaError for bad declarations); a missing file is a ModuleLoadError.
    """
    p = Path(path).resolve()
    if p.is_dir():
        init = p / "__init__.py"
        if not init.is_file():
            raise ModuleLoadError(f"{p} is a directory without __init__.py; a module package needs one")
        target, search = init, [str(p)]
    elif p.is_file():
        if p.suffix != ".py":
            raise ModuleLoadError(f"{p} is not a .py file")
        target, search = p, None
    else:
        raise ModuleLoadError(f"no module at {p}: expected a .py file or a package directory")
    mod_name = f"_spacetimedb_module_{next(_counter)}_{_ident(p.stem)}"
    spec = importlib.util.spec_from_file_location(mod_name, target, submodule_search_locations=search)
    if spec is None or spec.loader is None:
        raise ModuleLoadError(f"cannot import {target}")
    module = importlib.util.module_from_spec(spec)
    # Registered before running so dataclasses and get_type_hints can find the module's globals.
    sys.modules[mod_name] = module
    with collecting() as decls:
        try:
            spec.loader.exec_module(module)
        except BaseException:
            _forget(mod_name)
            raise
    if not decls:
        _forget(mod_name)
        raise ModuleLoadError(f"{p} declares no @table or @reducer; nothing to run")
    # The routes are the module's top-level `router` (sub-routers nested into it are other names).
    router = getattr(module, ROUTER_NAME, None)
    if router is not None and not isinstance(router, Router):
        _forget(mod_name)
        raise ModuleLoadError(f"{p}: the top-level name `router` must be a spacetimedb.Router, not {type(router).__name__}")
    routers = [router] if router is not None else []
    module_def = ModuleDef.build([*decls, *routers], name=name or (p.stem if p.is_file() else p.name))
    module_def.python_name = mod_name
    return module_def


def _forget(mod_name: str) -> None:
    for key in [k for k in sys.modules if k == mod_name or k.startswith(mod_name + ".")]:
        del sys.modules[key]


def _ident(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text)
