"""The control catalogue: the shipped one is valid and complete; bad edits give line-numbered messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploys.roles import ROLES
from inventory.applications import APPS
from inventory.services import INVENTORY_ROLES
from verify.catalogue import GROUPS, CatalogueError, load_catalogue
from verify.checks import CHECKS


def test_shipped_catalogue_is_valid_and_covers_every_group() -> None:
    cat = load_catalogue()
    assert {c.group for c in cat.controls} == set(GROUPS)
    assert len({c.id for c in cat.controls}) == len(cat.controls)
    assert {c.check for c in cat.controls} == set(CHECKS), "every check is used by a control"
    # every role an inventory may name has its services listed
    assert set(INVENTORY_ROLES) <= set(cat.services)


def test_each_check_lives_in_the_module_of_its_group() -> None:
    for control in load_catalogue().controls:
        assert CHECKS[control.check].__module__ == f"verify.checks.{control.group}", control.id


def test_every_app_role_has_its_unit_in_the_services_table() -> None:
    cat = load_catalogue()
    for role, app in APPS.items():
        assert cat.services[role] == (app.unit,)
        assert role in INVENTORY_ROLES


def test_backup_control_looks_where_the_backup_role_writes() -> None:
    from deploys.backup import DIRECTORY

    looked = {c.params["of"]: c.params["path"] for c in load_catalogue().controls if c.check == "backup_recent"}
    assert looked == {"databases": f"{DIRECTORY}/db", "hosts": f"{DIRECTORY}/files"}


def test_apps_roles_are_registered_for_deploy() -> None:
    """The deploy registry must know every app role the inventory accepts (app_specdb, ...)."""
    missing = [role for role in APPS if role not in ROLES]
    assert not missing, f"deploys/roles.py ROLES lacks {missing}"


GOOD = """\
groups: {network: N, server: S, application: A, data: D}
controls:
  - id: NET-01
    title: firewall
    group: network
    severity: required
    roles: all
    check: firewall_default_drop
services:
  base: [ssh]
  web: [nginx]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "controls.yml"
    path.write_text(text)
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(CatalogueError) as info:
        load_catalogue(write(tmp_path, text))
    return info.value.problems


def test_minimal_catalogue_loads(tmp_path: Path) -> None:
    cat = load_catalogue(write(tmp_path, GOOD))
    assert [c.id for c in cat.controls] == ["NET-01"]
    assert cat.controls[0].applies_to(["web"]) and cat.services_for(["web"]) == ["ssh", "nginx"]


def test_every_problem_is_reported_with_its_line(tmp_path: Path) -> None:
    found = problems(tmp_path, """\
groups: {network: N, server: S, application: A, data: D}
controls:
  - id: NET-01
    title: firewall
    group: physical
    severity: required
    roles: all
    check: no_such_check
    colour: red
services:
  base: [ssh]
  mail: nope
""")
    path = tmp_path / "controls.yml"
    assert f"{path}:5: control NET-01 field group: 'physical' is not one of network, server, application, data" \
        in found
    assert any(p.startswith(f"{path}:8: control NET-01 field check: unknown check 'no_such_check'") for p in found)
    assert any(p.startswith(f"{path}:9: control NET-01: unknown field 'colour'") for p in found)
    assert f"{path}:12: services of role 'mail': must be a list of systemd unit names" in found
    assert len(found) == 4


def test_duplicate_id_unknown_role_missing_field(tmp_path: Path) -> None:
    found = problems(tmp_path, GOOD.replace("services:", """\
  - id: NET-01
    title: again
    group: network
    roles: [dns]
    check: ssh_hardened
services:"""))
    path = tmp_path / "controls.yml"
    assert f"{path}:9: control NET-01: duplicate id (first at line 3)" in found
    assert f"{path}:12: control NET-01 field roles: unknown role 'dns' (not in the services table)" in found
    assert f"{path}:9: control NET-01: missing field 'severity'" in found


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    found = problems(tmp_path, GOOD.replace("title: firewall", "title: [unclosed"))
    assert found[0].startswith(f"{tmp_path / 'controls.yml'}:") and "(yaml)" in found[0]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="cannot read"):
        load_catalogue(tmp_path / "absent.yml")
