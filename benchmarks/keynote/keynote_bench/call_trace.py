"""`--trace`: where a confirmed call's wall time goes, from frame read to reply written (diagnostic).

Installed into the server process only when asked (`ours_server --trace FILE`): it wraps a few
functions of the frame-to-reply path with timestamps and, at exit, writes the median and p90 of
each step (microseconds) to FILE as JSON. Nothing of this is in the server's path by default.

Steps of one confirmed call (timestamps by tx offset; the frame read is the last one read on the
loop before the commit was appended, exact when each call is its own group commit):
  frame read -> append (decode, reducer, commit, up to the record's encoding)
  append -> writer woke (the record's encoding and queueing; the commit-log thread takes the batch)
  writer woke -> write done -> fdatasync done (with `write_dsync`, the one call is "write" and the
      "fdatasync" step is only the bookkeeping after it)
  fdatasync done -> loop woke (the durable future's callback on the loop: the hand-back)
  loop woke -> replies written (held clients flushed: the reply frames written to the sockets)
"""

from __future__ import annotations

import atexit
import json
import threading
import time
from pathlib import Path
from typing import Any

_now = time.perf_counter_ns


def install(out: Path) -> None:
    from spacetimedb.control import confirmed_reads as cr
    from spacetimedb.durability import commit_log as cl
    from spacetimedb.durability import database_durability as dd
    from spacetimedb.protocol import client_frames
    from spacetimedb.server import ws_session

    lock = threading.Lock()
    last_frame = [0]
    appended: dict[int, tuple[int, int]] = {}  # offset -> (frame read, append)
    woke: dict[int, tuple[int, int]] = {}  # offset -> (writer woke, write done)
    synced: dict[int, int] = {}  # last offset of a batch -> fdatasync done
    rows: list[tuple[int, ...]] = []
    decode = client_frames.decode_client_frame

    def traced_decode(data: Any, many: bool = True) -> Any:
        last_frame[0] = _now()
        return decode(data, many=many)

    ws_session.decode_client_frame = traced_decode  # type: ignore[assignment]

    on_result = dd.DatabaseDurability.on_reducer_result

    def traced_on_result(self: dd.DatabaseDurability, result: Any) -> None:
        t = _now()  # (the record's encoding counts in "append -> writer woke")
        on_result(self, result)
        appended[result.tx_offset] = (last_frame[0], t)

    # The log's append is inlined in `on_reducer_result` (one call per commit): time the commit there.
    dd.DatabaseDurability.on_reducer_result = traced_on_result  # type: ignore[method-assign]

    write_batch = cl.CommitLog._write_batch

    def traced_write_batch(self: cl.CommitLog, batch: list[Any]) -> None:
        t = _now()
        first = self._next_write  # the writer counts offsets on from here (`_write_batch`)
        write_batch(self, batch)
        done = _now()
        with lock:
            for o in range(first, self._next_write):
                woke[o] = (t, done)

    cl.CommitLog._write_batch = traced_write_batch  # type: ignore[method-assign]

    advance = cl.CommitLog._advance

    def traced_advance(self: cl.CommitLog, offset: int) -> None:
        with lock:
            synced[offset] = _now()
        advance(self, offset)

    cl.CommitLog._advance = traced_advance  # type: ignore[method-assign]

    release = cr.ConfirmedReads._release

    def traced_release(self: cr.ConfirmedReads, target: int, error: BaseException | None = None) -> None:
        t = _now()
        before = self.durable_offset
        release(self, target, error)
        done = _now()
        if error is not None:
            return
        with lock:
            after = int(self.durable_offset) if self.durable_offset != float("inf") else target
            lo = int(before) + 1 if before != float("inf") else target
            for o in range(max(lo, after - 64), after + 1):
                a = appended.pop(o, None)
                w = woke.pop(o, None)
                ends = [k for k in synced if k >= o]  # the group commit that covered o
                if a is None or w is None or not ends or a[0] == 0:
                    continue
                t_sync = synced[min(ends)]
                rows.append((a[1] - a[0], w[0] - a[1], w[1] - w[0], t_sync - w[1], t - t_sync, done - t))
            for k in [k for k in synced if k <= after]:
                del synced[k]

    cr.ConfirmedReads._release = traced_release  # type: ignore[method-assign]

    def report() -> None:
        names = ["frame read -> append", "append -> writer woke", "write", "fdatasync",
                 "fdatasync done -> loop woke", "loop woke -> replies written", "total"]
        data = [(*r, sum(r)) for r in rows[len(rows) // 10:]]  # the first tenth is warm-up
        summary: dict[str, Any] = {"calls": len(data)}
        for i, name in enumerate(names):
            col = sorted(r[i] for r in data)
            if col:
                summary[name] = {"p50_us": col[len(col) // 2] / 1000, "p90_us": col[len(col) * 9 // 10] / 1000}
        out.write_text(json.dumps(summary, indent=1))

    def every_two_seconds() -> None:  # the benchmark may stop the server with a signal
        while True:
            time.sleep(2.0)
            report()

    threading.Thread(target=every_two_seconds, name="call-trace", daemon=True).start()
    atexit.register(report)
