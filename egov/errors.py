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
    """A router could not be rendered, reached, configured or checked.

    ``report_name`` is how a run's report names the error (``prepare: NetworkError: ...``): the
    subclasses below are for callers to tell failures apart, while the reports keep their wording;
    an error translated from netmiko on an open session is reported by netmiko's name, as its text is.
    """

    def __init__(self, message: str, report_name: str = "NetworkError") -> None:
        super().__init__(message)
        self.report_name = report_name


class DeviceUnreachable(NetworkError):
    """No usable SSH session to the router: no route, refused, SSH handshake or host key failed,
    no prompt; or the open session was lost."""


class AuthenticationFailed(NetworkError):
    """The router refused the login (user, key or password)."""


class DeviceTimeout(NetworkError):
    """The router's session stopped answering within the time allowed."""


class LineRefused(NetworkError):
    """The router refused a configuration line (its CLI printed an error); nothing after it was sent."""


class CommitFailed(NetworkError):
    """The router refused to commit the candidate configuration (Junos ``commit``)."""


class RevertExpired(NetworkError):
    """The device's own revert timer (its dead man's switch) fired before the change was confirmed:
    the device has already put its previous configuration back."""


class UnexpectedOutput(NetworkError):
    """The router answered, but not as asked: a configuration read that is no configuration (an error
    message, a session without privilege), a save or commit that did not report success."""


def report_name(exc: BaseException) -> str:
    """The name a run's report gives an exception (its class, or a NetworkError's ``report_name``)."""
    return exc.report_name if isinstance(exc, NetworkError) else type(exc).__name__


class MonitoringError(EgovError):
    """Monitoring configuration or status could not be produced."""


class MonitoringConfigError(MonitoringError, InputError):
    """The monitoring settings of the inventory, or an exporter's configuration file, are wrong: bad
    input (exit 2), unlike a Prometheus that does not answer."""
