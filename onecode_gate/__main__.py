"""``python -m onecode_gate``: the gate agent on its own."""

from onecode_gate.agent import main

raise SystemExit(main())
