"""The special types (wire spec section 3) as small immutable Python classes.

On the wire each is a one-field product (or, for ScheduleAt, a two-variant sum) recognised by its
magic field name; in Python each is a value class that is hashable, ordered and printable.
Identity, ConnectionId and Uuid print as big-endian hex but travel little-endian.
Defined in `ids.py` and `timestamps.py`; this module is the import path the other layers use.
"""

from spacetimedb.sats.ids import ConnectionId, Identity, Uuid
from spacetimedb.sats.timestamps import ScheduleAt, TimeDuration, Timestamp

__all__ = ["ConnectionId", "Identity", "ScheduleAt", "TimeDuration", "Timestamp", "Uuid"]
