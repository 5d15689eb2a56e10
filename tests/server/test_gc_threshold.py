"""The server process raises the collector's young-generation threshold (fan-out allocates
thousands of short-lived containers per commit; see `app.GC_YOUNG_THRESHOLD`)."""

from __future__ import annotations

import subprocess
import sys

from spacetimedb.server import app

PROBE = """
import gc
from spacetimedb.server import app

async def main():
    print(gc.get_threshold()[0])

gc.set_threshold(700)
app._blocking(main, "probe")()
"""


def test_the_blocking_server_entry_raises_the_young_gc_threshold() -> None:
    # In a child: the entry also installs uvloop and the server's log handlers, process-wide.
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True)
    assert int(out.stdout.strip()) == app.GC_YOUNG_THRESHOLD > 700
