"""The control layer's clock: microseconds since the Unix epoch, as reducers and logs see time."""

from __future__ import annotations

import time


def now_us() -> int:
    return time.time_ns() // 1000
