"""Procedures in `generate --lang python` bindings, called through the Python client
(`Connection.call_procedure`): the arguments encoded with the generated `<Procedure>Args` class, the
`ProcedureResult` value decoded with `PROCEDURES[name].return_type`."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from spacetimedb import bsatn
from spacetimedb.client.connection import Connection
from spacetimedb.codegen.module_view import load_module_view
from spacetimedb.codegen.python import generate_python
from spacetimedb.control.host_backend import host_backend_factory
from spacetimedb.module.loader import load_module
from spacetimedb.protocol import ProcedureResult
from spacetimedb.server.app import Server

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "price_feed.py"


def _bindings(tmp_path: Path) -> ModuleType:
    text = generate_python(load_module_view(load_module(EXAMPLE).raw_module_def_json()))["__init__.py"]
    path = tmp_path / "price_bindings" / "__init__.py"
    path.parent.mkdir()
    path.write_text(text, "utf-8")
    spec = importlib.util.spec_from_file_location("price_bindings", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["price_bindings"] = module
    spec.loader.exec_module(module)
    return module


def test_python_bindings_and_client_call_a_procedure(tmp_path: Path) -> None:
    b = _bindings(tmp_path)
    assert sorted(b.PROCEDURES) == ["fetch_price", "stored_price"]
    info = b.PROCEDURES["stored_price"]
    sent: list[tuple[str, object]] = []
    b.RemoteProcedures(lambda name, args: sent.append((name, args))).stored_price("BTC")
    assert sent == [("stored_price", b.StoredPriceArgs("BTC"))]

    async def main() -> None:
        server = Server(tmp_path / "data", backend_factory=host_backend_factory)
        port = await server.start()
        try:
            await server.publish_path("prices", EXAMPLE)
            conn = await Connection.connect(f"http://127.0.0.1:{port}", "prices")
            try:
                await conn.call_reducer("set_price", bsatn.encode(b.SetPriceArgs("BTC", 77), b.SetPriceArgs))
                await conn.recv(timeout=10)  # ReducerResult
                rid = await conn.call_procedure("stored_price", bsatn.encode(b.StoredPriceArgs("BTC"), info.args_type))
                msg = await conn.recv(timeout=10)
                while not isinstance(msg, ProcedureResult):  # bounded by recv's timeout
                    msg = await conn.recv(timeout=10)
                assert msg.request_id == rid
                assert bsatn.decode(msg.status.value, info.return_type) == 77
            finally:
                await conn.close()
        finally:
            await server.stop()

    asyncio.run(asyncio.wait_for(main(), 60))
