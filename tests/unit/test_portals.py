"""Component portals: adding an agency brings its portal up on the web role and changes nothing else.

Every role's bare-host case (``tests/fixtures/roles``) is run on ``inventory/lab.yml`` and on the same
file with one agency added by ``egov inventory add-agency``; the files each role would write are
compared. What changes is the agency's portal (nginx's server block and the certificate's names), its
DNS record, and its probe in monitoring; no other file of any role.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from unittest import mock

from inventory.edit import add_agency
from tests.support.role_harness import LAB_INVENTORY, case_files, deploy_context, load_case, run_role

FIXED_SALT = b"$2b$04$" + b"egovportalsfixedsalt.."


def _written(inventory: Path, workdir: Path) -> dict[tuple[str, str], str]:
    """(case, destination) -> sha1 of every file each bare case's role uploads."""
    out: dict[tuple[str, str], str] = {}
    # a bare host has no web config whose hashes it keeps: a fixed bcrypt salt, so both runs hash alike
    with deploy_context(workdir, inventory) as inv, mock.patch("bcrypt.gensalt", lambda *_a, **_k: FIXED_SALT):
        for path in case_files():
            if not path.stem.startswith("bare"):
                continue
            case = load_case(path)
            for role in case["roles"]:
                run = run_role(inv, role, case["host"], case["facts"], case=case["case"])
                for op in run.operations:
                    for command in op.commands:
                        if isinstance(command, dict) and "sha1" in command:
                            out[(f"{path.parent.name}/{path.stem}", command["upload"])] = command["sha1"]
    return out


def test_adding_an_agency_changes_its_portal_dns_record_and_probe_only(tmp_path: Path) -> None:
    added = tmp_path / "lab.yml"
    shutil.copy(LAB_INVENTORY, added)
    # the rosters beside it (directory__rosters is relative to the inventory): the same accounts
    shutil.copytree(LAB_INVENTORY.parent / "rosters", tmp_path / "rosters")
    add_agency(added, code="so-tai-chinh", name="Sở Tài chính", short="stc", site="dc")
    before = _written(LAB_INVENTORY, tmp_path / "before")
    after = _written(added, tmp_path / "before")  # the same lab CA: a certificate is re-issued for new names only
    assert before.keys() == after.keys()            # no file appears or goes
    changed = sorted(key for key in before if before[key] != after[key])
    assert changed == [
        ("dns/bare", "/etc/unbound/unbound.conf.d/.egov-test/egov.conf"),        # stc.quangninh.gov.vn -> the VIP
        ("monitoring/bare", "/etc/prometheus/file_sd/.egov-test/blackbox_http_portal.json"),   # its probe
        ("monitoring/bare", "/etc/prometheus/rules/.egov-test/egov.yml"),        # PublicEndpointDown for it
        ("web/bare", "/etc/nginx/sites-enabled/.egov-test/egov.conf"),           # its server block
        ("web/bare", "/etc/ssl/egov/web.crt"),                                 # the certificate names it
        ("web/bare", "/etc/ssl/egov/web.key"),                                 # (the lab CA re-keys a new one)
    ], changed
