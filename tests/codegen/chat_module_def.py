"""A hand-written RawModuleDefV10 (SATS-JSON) of the quickstart chat, for codegen tests."""

from typing import Any


def _t(tag: str, payload: Any = None) -> dict[str, Any]:
    return {tag: [] if payload is None else payload}


def _elem(name: str, ty: dict[str, Any]) -> dict[str, Any]:
    return {"name": {"some": name}, "algebraic_type": ty}


def _product(*elems: dict[str, Any]) -> dict[str, Any]:
    return {"Product": {"elements": list(elems)}}


IDENTITY = _product(_elem("__identity__", _t("U256")))
TIMESTAMP = _product(_elem("__timestamp_micros_since_unix_epoch__", _t("I64")))
OPTION_STRING = {"Sum": {"variants": [_elem("some", _t("String")), _elem("none", _product())]}}


def chat_module_def() -> dict[str, Any]:
    user = _product(_elem("identity", IDENTITY), _elem("name", OPTION_STRING), _elem("online", _t("Bool")))
    message = _product(_elem("sender", IDENTITY), _elem("sent", TIMESTAMP), _elem("text", _t("String")))

    def table(
        name: str, ref: int, pk: list[int], indexes: list[Any], constraints: list[Any]
    ) -> dict[str, Any]:
        return {
            "source_name": name,
            "product_type_ref": ref,
            "primary_key": pk,
            "indexes": indexes,
            "constraints": constraints,
            "sequences": [],
            "table_type": _t("User"),
            "table_access": _t("Public"),
            "default_values": [],
            "is_event": False,
        }

    def reducer(name: str, params: list[Any], visibility: str = "ClientCallable") -> dict[str, Any]:
        return {
            "source_name": name,
            "params": {"elements": params},
            "visibility": _t(visibility),
            "ok_return_type": _product(),
            "err_return_type": _t("String"),
        }

    return {
        "sections": [
            {"Typespace": {"types": [user, message]}},
            {
                "Types": [
                    {"source_name": {"scope": [], "source_name": "User"}, "ty": 0, "custom_ordering": True},
                    {
                        "source_name": {"scope": [], "source_name": "Message"},
                        "ty": 1,
                        "custom_ordering": True,
                    },
                ]
            },
            {
                "Tables": [
                    table(
                        "user",
                        0,
                        [0],
                        [
                            {
                                "source_name": {"some": "user_identity_idx_btree"},
                                "accessor_name": {"some": "identity"},
                                "algorithm": {"BTree": [0]},
                            }
                        ],
                        [
                            {
                                "source_name": {"some": "user_identity_key"},
                                "data": {"Unique": {"columns": [0]}},
                            }
                        ],
                    ),
                    table("message", 1, [], [], []),
                ]
            },
            {
                "Reducers": [
                    reducer("set_name", [_elem("name", _t("String"))]),
                    reducer("send_message", [_elem("text", _t("String"))]),
                    reducer("identity_connected", [], "Private"),
                    reducer("identity_disconnected", [], "Private"),
                ]
            },
            {
                "LifeCycleReducers": [
                    {"lifecycle_spec": _t("OnConnect"), "function_name": "identity_connected"},
                    {"lifecycle_spec": _t("OnDisconnect"), "function_name": "identity_disconnected"},
                ]
            },
        ]
    }
