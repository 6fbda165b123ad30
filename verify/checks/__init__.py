"""The checks behind the controls, one module per group of the catalogue (``verify/controls.yml``):
``network``, ``server``, ``application`` and ``data``; ``base`` holds what they share.

Importing the package registers every check in the one ``CHECKS`` dict the catalogue and the engine read.
"""

from verify.checks import application, data, network, server  # noqa: F401 - each registers its checks
from verify.checks.base import CHECKS, Check, Node, Outcome, RunsCommands

__all__ = ["CHECKS", "Check", "Node", "Outcome", "RunsCommands"]
