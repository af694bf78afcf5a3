"""``onecode gate-agent``: the reference gate agent (package ``onecode_gate``) as a
sub-command, with the server's clock skew setting."""

from __future__ import annotations

import argparse

from onecode.commands import Command
from onecode.settings import Settings
from onecode_gate import agent


def gate_agent(args: argparse.Namespace, settings: Settings) -> int:
    return agent.run(args, settings.clock_skew_seconds)


COMMANDS = [
    Command(
        "gate-agent",
        "reference gate: stdin codes, online with offline fallback",
        gate_agent,
        agent.add_arguments,
    ),
]
