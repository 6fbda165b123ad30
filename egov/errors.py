"""One exception base for the whole toolkit; one subclass per layer.

The CLI maps ``EgovError`` to a clean message and exit code, so library code raises
these (never ``SystemExit``) and never prints a traceback for bad input.
"""

from __future__ import annotations


class EgovError(Exception):
    """Base of every error the toolkit reports to a user.

    ``exit_code`` is what the CLI exits with: 2 for bad input, 1 for a failed run.
    """

    exit_code = 1


class InputError(EgovError):
    """Bad input from a file or the command line. Carries every problem found."""

    exit_code = 2

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class InventoryError(InputError):
    """The inventory does not load or does not validate."""


class SecretsError(InputError):
    """A secret is missing, or the secrets file is unsafe or malformed."""


class LabError(EgovError):
    """The lab cannot be built, started or stopped."""


class DeployError(EgovError):
    """A deploy failed on one or more hosts."""


class NetworkError(EgovError):
    """A router could not be rendered, reached, configured or checked."""


class MonitoringError(EgovError):
    """Monitoring configuration or status could not be produced."""
