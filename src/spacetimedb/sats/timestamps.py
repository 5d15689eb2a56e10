"""Timestamp, TimeDuration (signed microseconds, i64) and ScheduleAt (Interval | Time)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import ClassVar, overload

from spacetimedb.sats.errors import ConversionError
from spacetimedb.sats.ids import _check_int

_new = object.__new__
_time_ns = time.time_ns
_I64_MIN = -(1 << 63)
_I64_MAX = (1 << 63) - 1


@dataclass(frozen=True, slots=True, order=True)
class TimeDuration:
    """A signed span of time in microseconds (i64)."""

    micros: int

    def __post_init__(self) -> None:
        _check_int("TimeDuration", self.micros, _I64_MIN, _I64_MAX)

    @classmethod
    def from_seconds(cls, seconds: float) -> TimeDuration:
        return cls(round(seconds * 1_000_000))

    @classmethod
    def from_millis(cls, millis: int) -> TimeDuration:
        return cls(millis * 1000)

    @classmethod
    def from_timedelta(cls, td: timedelta) -> TimeDuration:
        return cls((td.days * 86_400 + td.seconds) * 1_000_000 + td.microseconds)

    def to_timedelta(self) -> timedelta:
        return timedelta(microseconds=self.micros)

    @property
    def seconds(self) -> float:
        return self.micros / 1_000_000

    def __add__(self, other: TimeDuration) -> TimeDuration:
        if not isinstance(other, TimeDuration):
            return NotImplemented
        return TimeDuration(self.micros + other.micros)

    def __sub__(self, other: TimeDuration) -> TimeDuration:
        if not isinstance(other, TimeDuration):
            return NotImplemented
        return TimeDuration(self.micros - other.micros)

    def __neg__(self) -> TimeDuration:
        return TimeDuration(-self.micros)

    def __repr__(self) -> str:
        return f"TimeDuration(micros={self.micros})"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|z|[+-]\d{2}:\d{2})$"
)


@dataclass(frozen=True, slots=True, order=True)
class Timestamp:
    """A point in time: signed microseconds since the Unix epoch (i64)."""

    micros: int
    UNIX_EPOCH: ClassVar[Timestamp]

    def __post_init__(self) -> None:
        _check_int("Timestamp", self.micros, _I64_MIN, _I64_MAX)

    @classmethod
    def now(cls) -> Timestamp:
        # Built without `__init__`/`__post_init__`: the clock is always an int in range, and this
        # runs once per reducer call (three Python frames fewer).
        ts = _new(cls)
        _set_micros(ts, _time_ns() // 1000)
        return ts

    @classmethod
    def from_datetime(cls, dt: datetime) -> Timestamp:
        """A naive datetime is taken to be UTC."""
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return cls(TimeDuration.from_timedelta(dt - _EPOCH).micros)

    def to_datetime(self) -> datetime:
        """An aware UTC datetime."""
        return _EPOCH + timedelta(microseconds=self.micros)

    def isoformat(self) -> str:
        """RFC 3339 like upstream's `to_rfc3339`: `2025-02-10T15:45:30.123+00:00` (fraction only if nonzero)."""
        dt = self.to_datetime()
        base = dt.strftime("%Y-%m-%dT%H:%M:%S")
        us = dt.microsecond
        if us == 0:
            frac = ""
        elif us % 1000 == 0:
            frac = f".{us // 1000:03d}"
        else:
            frac = f".{us:06d}"
        return f"{base}{frac}+00:00"

    @classmethod
    def parse(cls, text: str) -> Timestamp:
        """Parse RFC 3339 (`2025-02-10T15:45:30Z`, `...+02:00`, fractions to any precision)."""
        m = _RFC3339.match(text.strip())
        if m is None:
            raise ConversionError(
                f"invalid timestamp {text!r}: expected RFC 3339, e.g. '2025-02-10T15:45:30Z'"
            )
        y, mo, d, h, mi, s, frac, tz = m.groups()
        micros = int((frac or "0")[:6].ljust(6, "0"))
        offset = timedelta(0)
        if tz not in ("Z", "z"):
            sign = 1 if tz[0] == "+" else -1
            offset = sign * timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6]))
        try:
            naive = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s))
        except ValueError as e:
            raise ConversionError(f"invalid timestamp {text!r}: {e}") from None
        delta = naive - datetime(1970, 1, 1) - offset
        return cls(TimeDuration.from_timedelta(delta).micros + micros)

    def __add__(self, other: TimeDuration) -> Timestamp:
        if not isinstance(other, TimeDuration):
            return NotImplemented
        return Timestamp(self.micros + other.micros)

    @overload
    def __sub__(self, other: TimeDuration) -> Timestamp: ...
    @overload
    def __sub__(self, other: Timestamp) -> TimeDuration: ...
    def __sub__(self, other: TimeDuration | Timestamp) -> Timestamp | TimeDuration:
        if isinstance(other, TimeDuration):
            return Timestamp(self.micros - other.micros)
        if isinstance(other, Timestamp):
            return TimeDuration(self.micros - other.micros)
        return NotImplemented

    def since(self, earlier: Timestamp) -> TimeDuration:
        return TimeDuration(self.micros - earlier.micros)

    def __str__(self) -> str:
        return self.isoformat()

    def __repr__(self) -> str:
        try:
            return f"Timestamp({self.isoformat()!r})"
        except (OverflowError, ValueError):  # outside datetime's years 1..9999
            return f"Timestamp(micros={self.micros})"


Timestamp.UNIX_EPOCH = Timestamp(0)
#: The slot's own setter (faster than object.__setattr__ on the frozen class), for `now`.
_set_micros = Timestamp.__dict__["micros"].__set__


@dataclass(frozen=True, slots=True)
class ScheduleAt:
    """When a scheduled reducer runs: every `TimeDuration` (Interval, tag 0) or once at a `Timestamp` (Time, tag 1)."""

    value: TimeDuration | Timestamp

    def __post_init__(self) -> None:
        if not isinstance(self.value, TimeDuration | Timestamp):
            raise ConversionError(
                f"ScheduleAt holds a TimeDuration or a Timestamp, got {type(self.value).__name__}; "
                "use ScheduleAt.interval(seconds) or ScheduleAt.time(datetime)"
            )

    @classmethod
    def interval(cls, every: float | timedelta | TimeDuration) -> ScheduleAt:
        """Run repeatedly; `every` is seconds, a timedelta or a TimeDuration."""
        if isinstance(every, TimeDuration):
            return cls(every)
        if isinstance(every, timedelta):
            return cls(TimeDuration.from_timedelta(every))
        if isinstance(every, int | float) and not isinstance(every, bool):
            return cls(TimeDuration.from_seconds(every))
        raise ConversionError(f"ScheduleAt.interval expects seconds, a timedelta or a TimeDuration, got {every!r}")

    @classmethod
    def time(cls, at: Timestamp | datetime) -> ScheduleAt:
        """Run once at `at` (a Timestamp or a datetime; naive means UTC)."""
        if isinstance(at, Timestamp):
            return cls(at)
        if isinstance(at, datetime):
            return cls(Timestamp.from_datetime(at))
        raise ConversionError(f"ScheduleAt.time expects a Timestamp or a datetime, got {at!r}")

    @property
    def tag(self) -> int:
        return 0 if isinstance(self.value, TimeDuration) else 1

    @property
    def is_interval(self) -> bool:
        return isinstance(self.value, TimeDuration)

    def __repr__(self) -> str:
        kind = "interval" if self.is_interval else "time"
        return f"ScheduleAt.{kind}({self.value!r})"
