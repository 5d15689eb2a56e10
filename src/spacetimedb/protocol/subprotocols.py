"""The WebSocket subprotocols (`Sec-WebSocket-Protocol`) a connection may speak: v2 and v3 BSATN.

v3 frames hold one or more messages back to back, v2 frames exactly one; the messages are the same.
"""

from __future__ import annotations

SUBPROTOCOL_V3 = "v3.bsatn.spacetimedb"
SUBPROTOCOL_V2 = "v2.bsatn.spacetimedb"
#: Both, most preferred first: what the server offers and the client asks for by default.
SUBPROTOCOLS: tuple[str, ...] = (SUBPROTOCOL_V3, SUBPROTOCOL_V2)
