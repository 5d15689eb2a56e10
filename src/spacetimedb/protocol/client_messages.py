"""ClientMessage (v2, also framed as v3): what the SDK sends. Tags are the order of `ClientMessage`."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Annotated, TypeAlias

from spacetimedb.protocol.rows import QuerySetId
from spacetimedb.sats.sums import TypeName
from spacetimedb.sats.widths import u8, u32


class UnsubscribeFlags(enum.Enum):
    Default = 0
    SendDroppedRows = 1


@dataclass(slots=True)
class Subscribe:
    request_id: u32
    query_set_id: QuerySetId
    query_strings: list[str]


@dataclass(slots=True)
class Unsubscribe:
    request_id: u32
    query_set_id: QuerySetId
    flags: UnsubscribeFlags


@dataclass(slots=True)
class OneOffQuery:
    request_id: u32
    query_string: str


@dataclass(slots=True)
class CallReducer:
    request_id: u32
    flags: u8  # CallReducerFlags: a plain u8 on the wire; only 0 is valid (the server must reject others)
    reducer: str
    args: bytes  # the BSATN of the reducer's params product


@dataclass(slots=True)
class CallProcedure:
    request_id: u32
    flags: u8  # CallProcedureFlags: only 0 is valid
    procedure: str
    args: bytes


#: The union as an annotation (variant = class, tag = position); isinstance() the member classes.
ClientMessage: TypeAlias = Annotated[
    Subscribe | Unsubscribe | OneOffQuery | CallReducer | CallProcedure, TypeName("ClientMessage")
]
