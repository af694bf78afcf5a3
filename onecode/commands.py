"""A sub-command of the ``onecode`` command, as data.

A domain's command module lists its ``COMMANDS``; ``onecode.cli`` imports those modules
and reads the lists, the way ``onecode.app`` reads each domain's ``ROUTES``. So the
command line sits on top: nothing below it imports ``onecode.cli``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

from onecode.settings import Settings

Run = Callable[[argparse.Namespace, Settings], int]
"""What a sub-command does: parsed arguments and the settings in, an exit status out."""


def no_arguments(parser: argparse.ArgumentParser) -> None:
    """A sub-command that takes no arguments of its own."""


@dataclass(frozen=True)
class Command:
    """``onecode NAME``: its one-line help, its arguments, and what it runs."""

    name: str
    help: str
    run: Run
    arguments: Callable[[argparse.ArgumentParser], None] = no_arguments
