"""What a role reads: host data with no inline defaults, and the one deploy context."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pyinfra.context import ctx_host

from deploys import context, data, host_name
from deploys.site import use_host_inventory
from egov.errors import DeployError
from egov.secrets import Secrets

ROOT = Path(__file__).resolve().parents[2]


class Host:
    """The two things of a pyinfra host the helpers read (``HostData.get(key, default)`` is a dict's)."""

    def __init__(self, **data: Any) -> None:
        self.name = "10.22.0.10"
        self.data = data


@pytest.fixture
def no_context(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(context, "_current", None)


def test_data_returns_null_as_a_value_and_names_a_missing_key_and_the_host() -> None:
    with ctx_host.use(Host(egov_name="dc-app1", base__ssh_allow_from=None, base__timezone="Asia/Ho_Chi_Minh")):
        assert data("base__ssh_allow_from") is None
        assert data("base__timezone") == "Asia/Ho_Chi_Minh"
        assert host_name() == "dc-app1"
        with pytest.raises(DeployError, match="dc-app1: no layer sets 'base__nosuch'"):
            data("base__nosuch")


@pytest.mark.usefixtures("no_context")
def test_the_context_before_it_is_set_is_an_error() -> None:
    with pytest.raises(DeployError, match="no deploy context"):
        context.deploy_context()


@pytest.mark.usefixtures("no_context")
def test_plain_pyinfra_needs_the_inventory_in_host_data(monkeypatch: pytest.MonkeyPatch) -> None:
    with (ctx_host.use(Host(egov_name="dc-app1")),
          pytest.raises(DeployError, match=r"10\.22\.0\.10: host data has no egov_inventory")):
        use_host_inventory()
    assert not context.has_context()  # no fallback inventory was loaded
    lab = str(ROOT / "inventory" / "lab.yml")
    monkeypatch.delenv("EGOV_SECRETS_FILE", raising=False)
    with ctx_host.use(Host(egov_name="dc-app1", egov_inventory=lab)):
        use_host_inventory()
        first = context.deploy_context()
        use_host_inventory()  # the next host of the same run: loaded once
    assert context.deploy_context() is first and str(first.inventory.path) == lab
    assert first.lab_secrets_file is not None and first.lab_secrets_file.name == "deploy-secrets.yml"
    assert isinstance(first.secrets, Secrets)
