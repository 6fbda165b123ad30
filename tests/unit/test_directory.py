"""The directory: rosters refused row by row, the LDIF of the tree, and slapd itself.

Where Debian's slapd is installed (scripts/bootstrap.sh installs it), the rendered cn=config goes
through ``slapadd -n0`` and ``slaptest``, and a real slapd on a private ldapi socket takes the
tree's changes: Vietnamese names come back from slapd as they were written, a second pass of
``changes`` against what slapd then holds is empty, and a person who left a roster is deleted.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploys.directory import alias_address, tree
from deploys.ldif import changes, dump, parse, ssha
from egov.errors import InventoryError
from inventory import load_inventory
from inventory.roster import load_rosters, parse_roster
from inventory.services import directory_base
from tests.support import slapd as slapd_support

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "inventory" / "lab.yml"
ROLES = ["lanhdao", "vanthu", "chuyenvien", "ketoan", "cntt"]
BASE = "dc=quangninh,dc=gov,dc=vn"


def _roster(directory: Path, agency: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{agency}.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_roster_gives_its_people_with_their_names_as_written(tmp_path: Path) -> None:
    path = _roster(tmp_path, "so-noi-vu", "# comment\nuid,name,roles\nnguyenvanan, Nguyễn Văn An ,lanhdao;vanthu\n")
    accounts, problems = parse_roster(path, ROLES)
    assert problems == []
    (account,) = accounts
    assert (account.uid, account.name, account.agency, account.roles) == (
        "nguyenvanan", "Nguyễn Văn An", "so-noi-vu", ("lanhdao", "vanthu"))
    assert (account.surname, account.given_name, account.where) == ("Nguyễn", "An", f"{path}:3")
    assert account.secret == "account_nguyenvanan_password"


def test_a_decomposed_name_is_stored_composed(tmp_path: Path) -> None:
    # "ễ" typed as e + circumflex + tilde (NFD, as some keyboards on macOS write it)
    path = _roster(tmp_path, "so-noi-vu", "uid,name,roles\nan,Nguye\u0302\u0303n An,vanthu\n")
    (account,), _ = parse_roster(path, ROLES)
    assert account.name == "Nguyễn An"


def test_every_bad_row_is_named_with_its_file_and_line(tmp_path: Path) -> None:
    path = _roster(tmp_path, "so-noi-vu", "uid,name,roles\n"
                                           "ok1,Trần Văn Đức,vanthu\n"
                                           "Bad Uid,Lê Thị Phương,vanthu\n"
                                           "ok2,,vanthu\n"
                                           "ok3,Phạm Ngọc,giamdoc\n"
                                           "ok4,Hà,\n"
                                           "ok5,Vũ,vanthu,extra\n")
    accounts, problems = parse_roster(path, ROLES)
    assert [a.uid for a in accounts] == ["ok1"]
    assert problems == [
        f"{path}:3: uid: 'Bad Uid': a lower-case letter, then letters, digits, . or - (32 at most)",
        f"{path}:4: name: is empty",
        f"{path}:5: roles: unknown giamdoc (known: chuyenvien, cntt, ketoan, lanhdao, vanthu)",
        f"{path}:6: roles: at least one role",
        f"{path}:7: 4 fields, the header has 3",
    ]


def test_a_roster_without_its_columns_or_in_another_encoding_is_refused(tmp_path: Path) -> None:
    path = _roster(tmp_path, "a", "login,name\nx,y\n")
    assert parse_roster(path, ROLES)[1] == [f"{path}:1: the header must name the columns uid, name, roles "
                                            "(missing: uid, roles)"]
    latin = tmp_path / "b.csv"
    latin.write_bytes("uid,name,roles\nx,Nguy\u1ec5n,vanthu\n".encode("utf-16"))
    assert "not UTF-8 text" in parse_roster(latin, ROLES)[1][0]


def test_the_rosters_refuse_a_uid_twice_an_unknown_agency_and_a_platform_mailbox(tmp_path: Path) -> None:
    first = _roster(tmp_path, "so-noi-vu", "uid,name,roles\nan,Nguyễn An,vanthu\nnoc,Trực Ban,cntt\n")
    second = _roster(tmp_path, "tien-yen", "uid,name,roles\nan,Nguyễn Văn An,vanthu\n")
    _roster(tmp_path, "so-khong-co", "uid,name,roles\nbinh,Bình,vanthu\n")
    with pytest.raises(InventoryError) as caught:
        load_rosters(tmp_path, ROLES, agencies=["so-noi-vu", "tien-yen"], reserved=["noc"])
    assert caught.value.problems == [
        f"{tmp_path / 'so-khong-co.csv'}: no agency 'so-khong-co' in the inventory",
        f"{first}:3: uid: 'noc' is a platform mailbox's",
        f"{second}:2: uid: 'an' is already {first}:2",
    ]


def test_the_sample_rosters_load() -> None:
    inv = load_inventory(LAB)
    accounts = load_rosters(ROOT / "inventory" / "rosters" / "lab", ROLES, agencies=list(inv.agencies))
    assert {a.agency for a in accounts} == {"so-noi-vu", "tien-yen"}
    assert load_rosters(ROOT / "inventory" / "rosters", ROLES,
                        agencies=list(load_inventory(ROOT / "inventory" / "quangninh-2025.yml").agencies))


def test_ldif_writes_a_vietnamese_name_in_base64_and_reads_it_back() -> None:
    text = dump([("uid=an,ou=people," + BASE, {"cn": ["Nguyễn Văn An"], "sn": ["An"], "description": [" lead"]})])
    # RFC 2849: a value that is not a SAFE-STRING (non-ASCII, a leading space) is written after "::"
    assert f"cn:: {base64.b64encode('Nguyễn Văn An'.encode()).decode()}" in text
    assert "sn: An" in text and "description:: IGxlYWQ=" in text
    assert parse(text) == [("uid=an,ou=people," + BASE, {"cn": ["Nguyễn Văn An"], "sn": ["An"],
                                                          "description": [" lead"]})]
    long_value = "x" * 200
    folded = dump([("cn=a", {"description": [long_value]})])
    assert all(len(line) <= 76 for line in folded.splitlines())
    assert parse(folded)[0][1]["description"] == [long_value]


def test_ssha_is_what_slapd_checks() -> None:
    hashed = ssha("mật-khẩu-1", "uid=an")
    raw = base64.b64decode(hashed.removeprefix("{SSHA}"))
    digest, salt = raw[:20], raw[20:]
    assert hashlib.sha1("mật-khẩu-1".encode() + salt).digest() == digest
    assert ssha("mật-khẩu-1", "uid=an") == hashed and ssha("mật-khẩu-1", "uid=binh") != hashed


def _lab_tree(accounts_dir: Path | None = None) -> list[tuple[str, dict[str, list[str]]]]:
    inv = load_inventory(LAB)
    accounts = load_rosters(accounts_dir or ROOT / "inventory" / "rosters" / "lab", ROLES,
                            agencies=list(inv.agencies))
    return tree(inv, accounts, ["noc"], ["vanthu"], lambda name: f"test-{name}")


def test_the_tree_has_groups_per_agency_and_role_and_the_aliases() -> None:
    entries = dict(_lab_tree())
    inv = load_inventory(LAB)
    assert directory_base(inv) == BASE
    person = entries[f"uid=phamthingoc,ou=people,{BASE}"]
    assert person["mail"] == ["phamthingoc@tienyen.quangninh.gov.vn"]
    assert person["cn"] == ["Phạm Thị Ngọc"] and person["o"] == ["Ủy ban nhân dân huyện Tiên Yên"]
    assert entries[f"cn=tien-yen,ou=agencies,ou=groups,{BASE}"]["member"] == [
        f"uid={u},ou=people,{BASE}" for u in ("hoangvanlong", "phamthingoc", "dangquochuy")]
    assert entries[f"cn=vanthu,ou=roles,ou=groups,{BASE}"]["member"] == [
        f"uid=tranvanduc,ou=people,{BASE}", f"uid=phamthingoc,ou=people,{BASE}"]
    # an agency with its own domain gets vanthu@ it; under the shared domain, vanthu.<short>@
    assert alias_address(inv, "tien-yen", "vanthu") == "vanthu@tienyen.quangninh.gov.vn"
    assert entries[f"cn=vanthu.snv@quangninh.gov.vn,ou=aliases,{BASE}"]["rfc822MailMember"] == [
        "tranvanduc@quangninh.gov.vn"]
    assert entries[f"uid=noc,ou=mailboxes,{BASE}"]["mail"] == ["noc@quangninh.gov.vn"]


# ---- against Debian's slapd --------------------------------------------------------------------------

needs_slapd = pytest.mark.skipif(not slapd_support.installed(),
                                 reason="slapd is not installed here (apt-get install slapd ldap-utils)")


@needs_slapd
def test_the_config_passes_slapadd_and_slaptest(tmp_path: Path) -> None:
    result = slapd_support.build(tmp_path, slapd_support.config(tmp_path, [(2, "ldaps://10.22.146.13:636")]))
    assert result.returncode == 0, result.stderr
    assert "config file testing succeeded" in result.stderr


@needs_slapd
def test_slaptest_refuses_a_config_that_is_wrong(tmp_path: Path) -> None:
    config = slapd_support.config(tmp_path, [])
    config.write_text(config.read_text().replace("olcDbIndex: uid,mail,cn eq", "olcDbIndex: nosuchattr eq"))
    result = slapd_support.build(tmp_path, config)
    assert result.returncode != 0 and "nosuchattr" in result.stderr


@pytest.fixture
def slapd(tmp_path: Path) -> Iterator[str]:
    with slapd_support.running(tmp_path / "slapd") as uri:
        yield uri


_search, _modify = slapd_support.search, slapd_support.modify


@needs_slapd
def test_slapd_takes_the_tree_and_a_second_pass_changes_nothing(slapd: str, tmp_path: Path) -> None:
    wanted = _lab_tree()
    managed = [f"ou={ou},{BASE}" for ou in ("people", "groups", "aliases", "mailboxes", "services")]
    people = f"ou=people,{BASE}"
    _modify(slapd, changes(_search(slapd), wanted, managed, ("userPassword", people)), tmp_path)
    held = _search(slapd)
    assert held[f"uid=dangquochuy,ou=people,{BASE}"]["cn"] == ["Đặng Quốc Huy"]
    assert held[f"cn=vanthu@tienyen.quangninh.gov.vn,ou=aliases,{BASE}"]["rfc822MailMember"] == [
        "phamthingoc@tienyen.quangninh.gov.vn"]
    assert changes(held, wanted, managed, ("userPassword", people)) == ""
    # the person's own password change survives; a person who left the roster goes, with their groups' line
    held[f"uid=dangquochuy,ou=people,{BASE}"]["userPassword"] = [ssha("changed-by-the-person", "x")]
    assert changes(held, wanted, managed, ("userPassword", people)) == ""
    rosters = tmp_path / "rosters"
    shutil.copytree(ROOT / "inventory" / "rosters" / "lab", rosters)
    roster = rosters / "tien-yen.csv"
    roster.write_text("".join(line for line in roster.read_text(encoding="utf-8").splitlines(keepends=True)
                              if not line.startswith("dangquochuy")), encoding="utf-8")
    smaller = _lab_tree(rosters)
    _modify(slapd, changes(held, smaller, managed, ("userPassword", people)), tmp_path)
    after = _search(slapd)
    assert f"uid=dangquochuy,ou=people,{BASE}" not in after
    assert f"cn=cntt,ou=roles,ou=groups,{BASE}" not in after  # its one member left
    assert changes(after, smaller, managed, ("userPassword", people)) == ""


def test_egov_inventory_validate_names_a_bad_roster_row(tmp_path: Path) -> None:
    import subprocess
    import sys

    rosters = tmp_path / "rosters"
    _roster(rosters, "so-noi-vu", "uid,name,roles\nan,Nguyễn An,vanthu\nbinh,Trần Bình,giamdoc\n")
    text = LAB.read_text(encoding="utf-8").replace("directory__rosters: rosters/lab", f"directory__rosters: {rosters}")
    inventory = tmp_path / "lab.yml"
    inventory.write_text(text, encoding="utf-8")
    result = subprocess.run([sys.executable, str(ROOT / "cli.py"), "inventory", "validate", "-i", str(inventory)],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{rosters / 'so-noi-vu.csv'}:3: roles: unknown giamdoc" in result.stderr
    assert "Traceback" not in result.stderr
