"""`python -m onecode` runs the `onecode` command."""

from __future__ import annotations

from onecode.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
