"""Makes the keynote benchmark's helper package (benchmarks/keynote/keynote_bench) importable in tests."""

from __future__ import annotations

import sys
from pathlib import Path

KEYNOTE_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "keynote"
if str(KEYNOTE_DIR) not in sys.path:
    sys.path.insert(0, str(KEYNOTE_DIR))
