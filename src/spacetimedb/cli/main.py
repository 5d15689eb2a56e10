"""The `spacetimedb` command line; its commands mirror the official `spacetime` CLI."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    print("spacetimedb: the server is not built yet (see the open issues)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
