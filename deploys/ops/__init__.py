"""Custom pyinfra operations of the egov deploys (fact in, commands out, ``host.noop`` when equal)."""

from __future__ import annotations

from collections.abc import Generator
from typing import TypeAlias

from pyinfra.api.command import PyinfraCommand

# What an operation's body yields: shell commands as text, or pyinfra's command objects (an upload)
OperationCommands: TypeAlias = Generator[str | PyinfraCommand, None, None]
