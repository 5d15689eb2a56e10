"""RawModuleDefV10/V9 export: structure, canonical names, and BSATN round trips."""

from __future__ import annotations

from pathlib import Path

from spacetimedb.module import load_module
from spacetimedb.module import raw_def as r
from spacetimedb.module.export import decode_module_def_bsatn, module_def_bsatn, to_raw_v9, to_raw_v10
from spacetimedb.sats import algebraic_type as at

COUNTER = Path(__file__).parents[1] / "host" / "modules" / "counter.py"


def sections(raw: r.RawModuleDefV10) -> dict[str, object]:
    return {s.tag: s.value for s in raw.sections}


def test_v10_sections_and_contents() -> None:
    m = load_module(COUNTER)
    secs = sections(to_raw_v10(m))
    assert list(secs) == [
        "Typespace",
        "Types",
        "Tables",
        "Reducers",
        "Schedules",
        "LifeCycleReducers",
        "CaseConversionPolicy",
    ]
    tables = {t.source_name: t for t in secs["Tables"]}  # type: ignore[attr-defined]
    counter = tables["counter"]
    assert counter.primary_key == [0]
    assert counter.table_access == r.TableAccess.Public()
    assert tables["seen"].table_access == r.TableAccess.Private()
    assert [(i.source_name, i.accessor_name, i.algorithm) for i in counter.indexes] == [
        ("counter_name_idx_btree", "name", r.RawIndexAlgorithm.BTree([0]))
    ]
    assert [c.data for c in counter.constraints] == [r.RawConstraintDataV9.Unique(r.RawUniqueConstraintDataV9([0]))]
    assert [(q.column, q.increment) for q in tables["seen"].sequences] == [(0, 1)]
    reducers = {x.source_name: x for x in secs["Reducers"]}  # type: ignore[attr-defined]
    assert reducers["add"].params == at.product(("name", at.STRING), ("amount", at.U32))
    assert reducers["add"].visibility == r.FunctionVisibility.ClientCallable()
    assert reducers["setup"].visibility == r.FunctionVisibility.Private()
    # Scheduled reducers are private too, as upstream's validated definition (and its C++
    # module library) has them: clients get no bindings for them.
    assert reducers["fire_job"].visibility == r.FunctionVisibility.Private()
    assert reducers["heartbeat"].visibility == r.FunctionVisibility.Private()
    assert (reducers["add"].ok_return_type, reducers["add"].err_return_type) == (at.UNIT, at.STRING)
    lifecycles = {(x.lifecycle_spec.tag, x.function_name) for x in secs["LifeCycleReducers"]}  # type: ignore[attr-defined]
    assert lifecycles == {("Init", "setup"), ("OnConnect", "hello"), ("OnDisconnect", "bye")}
    schedules = {(s.table_name, s.schedule_at_col, s.function_name) for s in secs["Schedules"]}  # type: ignore[attr-defined]
    assert schedules == {("job", 1, "fire_job"), ("heartbeat_schedule", 1, "heartbeat")}
    types = secs["Types"]
    assert all(t.custom_ordering for t in types)  # type: ignore[attr-defined]
    typespace = secs["Typespace"]
    assert typespace.types[counter.product_type_ref] == at.product(("name", at.STRING), ("value", at.I64))  # type: ignore[attr-defined]


def test_v10_bsatn_round_trip_and_framing() -> None:
    m = load_module(COUNTER)
    data = module_def_bsatn(m)
    assert data[:4] == (7).to_bytes(4, "little")  # seven sections
    assert data[4] == 0  # the first is Typespace (tag 0)
    assert decode_module_def_bsatn(data) == to_raw_v10(m)
    assert module_def_bsatn(m, wrapped=True) == b"\x02" + data  # RawModuleDef::V10 is tag 2


def test_v9_round_trip_and_generated_names() -> None:
    m = load_module(COUNTER)
    raw = to_raw_v9(m)
    assert decode_module_def_bsatn(module_def_bsatn(m, 9), 9) == raw
    assert module_def_bsatn(m, 9, wrapped=True)[0] == 1
    job = next(t for t in raw.tables if t.name == "job")
    assert job.schedule == r.RawScheduleDefV9("job_sched", "fire_job", 1)
    assert [c.name for c in job.constraints] == ["job_scheduled_id_key"]
    assert [q.name for q in job.sequences] == ["job_scheduled_id_seq"]
    lifecycles = {x.name: x.lifecycle for x in raw.reducers}
    assert lifecycles["hello"] == r.Lifecycle.OnConnect() and lifecycles["add"] is None


def test_v10_json_matches_the_documented_shape_and_round_trips() -> None:
    from spacetimedb.sats.infer import node_of
    from spacetimedb.sats.json import from_json

    m = load_module(COUNTER)
    doc = m.raw_module_def_json()
    assert [next(iter(s)) for s in doc["sections"]][:4] == ["Typespace", "Types", "Tables", "Reducers"]
    tables = next(s["Tables"] for s in doc["sections"] if "Tables" in s)
    counter = next(t for t in tables if t["source_name"] == "counter")
    assert counter["table_access"] == {"Public": []}
    assert counter["indexes"][0]["algorithm"] == {"BTree": [0]}
    assert counter["indexes"][0]["accessor_name"] == {"some": "name"}
    reducers = next(s["Reducers"] for s in doc["sections"] if "Reducers" in s)
    add = next(r for r in reducers if r["source_name"] == "add")
    assert add["params"] == {
        "elements": [
            {"name": {"some": "name"}, "algebraic_type": {"String": []}},
            {"name": {"some": "amount"}, "algebraic_type": {"U32": []}},
        ]
    }
    assert add["visibility"] == {"ClientCallable": []}
    assert next(s for s in doc["sections"] if "CaseConversionPolicy" in s) == {"CaseConversionPolicy": {"SnakeCase": []}}
    assert from_json(doc, node_of(r.RawModuleDefV10)) == to_raw_v10(m)
    assert m.raw_module_def_json(9, wrapped=True)["V9"]["tables"][0]["name"] == "counter"
    assert m.raw_module_def_bsatn() == module_def_bsatn(m)
