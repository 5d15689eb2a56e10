"""Recursive types (a tree of nodes) as columns and arguments, in every argument format."""

from __future__ import annotations

from pathlib import Path

from spacetimedb import bsatn
from spacetimedb.module import load_module
from spacetimedb.module.export import decode_module_def_bsatn
from spacetimedb.sats import algebraic_type as at
from spacetimedb.testing import TestDatabase

TREE = Path(__file__).parent / "modules" / "tree.py"


def test_recursive_column_round_trips_through_every_path() -> None:
    m = load_module(TREE)
    node_ref = m.table("tree").schema.columns[1].algebraic_type
    assert isinstance(node_ref, at.RefType)
    assert m.typespace.types[node_ref.idx] == at.product(("label", at.STRING), ("children", at.array(node_ref)))
    db = TestDatabase(m)
    Node = m.reducers["plant"].param_annotations[1]
    db.call("plant", 1, Node("a", [Node("b"), Node("c", [Node("d")])]))
    assert db.find("tree", 1).root.children[1].children[0].label == "d"
    r = db.host.call_reducer(
        "plant", {"id": 2, "root": {"label": "x", "children": [{"label": "y", "children": []}]}},
        caller=db.owner, args_format="json",
    )
    assert r.ok and db.find("tree", 2).root.children[0].label == "y"
    codec = bsatn.compile(m.reducers["plant"].params, m.typespace)
    assert db.host.call_reducer("plant", codec.encode((3, ("z", []))), caller=db.owner).ok
    assert db.find("tree", 3).root == Node("z", [])
    assert decode_module_def_bsatn(m.raw_module_def_bsatn()) is not None
