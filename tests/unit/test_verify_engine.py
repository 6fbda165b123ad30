"""The verifier over the lab inventory with fake nodes: outcomes per control, verdicts, reports, CLI."""

from __future__ import annotations

import json
import shlex
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import verify.engine
from cli import main
from inventory import load_inventory
from verify import load_catalogue, run
from verify.engine import node_for

LAB = Path(__file__).resolve().parents[2] / "inventory" / "lab.yml"
NOW = 1_800_000_000
LAB_HOSTS = tuple(load_inventory(LAB).hosts)


class Out:
    def __init__(self, rc: int = 0, stdout: str = "", stderr: str = "") -> None:
        self.rc, self.stdout, self.stderr = rc, stdout, stderr


PORTALS = {agency.portal: agency.name for agency in load_inventory(LAB).agencies.values()}


def probe_answer(spec: dict[str, Any]) -> dict[str, Any]:
    """A compliant node's probe answer: healthy, and an agency's portal as nginx and HAProxy serve it."""
    if spec.get("port") == 9100:  # the node exporter wants TLS and a password
        return {"status": 401 if spec.get("tls") else 400}
    if spec.get("port") == 3142:  # apt-cacher-ng: the mirror's loopback only
        return {"error": "[Errno 111] Connection refused"}
    portal = spec.get("server_name") if spec.get("path") == "/" else None
    if portal in PORTALS and spec.get("port") == 80:
        return {"status": 301, "location": f"https://{portal}/", "body": ""}
    if portal in PORTALS:
        return {"status": 200, "body": f"<h1>{PORTALS[portal]}</h1>", "hsts": "max-age=31536000", "days_left": 200.0}
    return {"status": 200, "body": '{"status": "ok"}', "days_left": 200.0, "rcode": 0, "answers": 1, "id_ok": True,
            "ehlo": ["PIPELINING", "STARTTLS"], "tls_ehlo": ["AUTH PLAIN LOGIN"]}


# chronyc(1)'s authdata: the one DC time server a lab node asks, over NTS with cookies
AUTHDATA = ("Name/IP address             Mode KeyID Type KLen Last Atmp  NAK Cook CLen\n" + "=" * 73 + "\n"
            "10.22.146.10                 NTS     1   15  256   33    0    0    8  100\n")


def healthy_answers(command: str) -> Out:
    """What a compliant lab node answers (log host and package mirror dc-ops1 is 10.22.146.14, NTP dc-app1
    10.22.146.10)."""
    words = command.split()
    table: dict[str, Callable[[], Out]] = {
        "ss": lambda: Out(0, 'tcp LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:(("sshd",pid=1,fd=3))\n'
                             'tcp LISTEN 0 4096 *:9100 *:* users:(("prometheus-node",pid=2,fd=3))\n'
                             'tcp LISTEN 0 100 127.0.0.1:3142 0.0.0.0:* users:(("apt-cacher-ng",pid=3,fd=3))\n'),
        "nft": lambda: Out(0, json.dumps({"nftables": [{"chain": {"family": "inet", "table": "egov", "name": "input",
                                                                  "hook": "input", "policy": "drop"}}]})),
        "sshd": lambda: Out(0, "passwordauthentication no\nkbdinteractiveauthentication no\npermitemptypasswords no"
                               "\npermitrootlogin prohibit-password\npubkeyauthentication yes\n"
                               "ciphers aes256-gcm@openssh.com,aes128-ctr\nmacs hmac-sha2-512-etm@openssh.com\n"
                               "kexalgorithms curve25519-sha256\n"),
        "systemctl": lambda: Out(0, "active\n" if words[1] == "is-active" else "\n".join(
            f"Id={u}\nLoadState=loaded\nActiveState=active\nUnitFileState=enabled\n" for u in words[3:])),
        "chronyc": lambda: Out(0, AUTHDATA if "authdata" in command else
                               "Reference ID    : 0A16920A (10.22.146.10)\nLeap status     : Normal\n"),
        "cat": lambda: Out(0, "32768 60999\n" if "port_range" in command else
                           "ntsservercert /etc/ssl/egov/chrony.crt\nntsserverkey /etc/ssl/egov/chrony.key\n"
                           if "chrony" in command else
                           "forward-zone:\n name: .\n forward-tls-upstream: yes\n"
                           " forward-addr: 10.22.146.10@853#dc-app1.quangninh.gov.vn\n" if "unbound" in command else
                           "cache_peer 10.22.146.14 parent 3143 0 no-query default tls tls-cafile=/etc/ca.crt "
                           "tls-domain=dc-ops1.quangninh.gov.vn name=dc_mirror\n" if "squid" in command else
                           'module(load="imtcp" StreamDriver.Mode="1" StreamDriver.AuthMode="x509/name")\n'
                           '*.* action(type="omfwd" target="10.22.146.14" port="6514" StreamDriverMode="1"\n'
                           '           StreamDriverAuthMode="x509/name")\n'),
        "dpkg-query": lambda: Out(0, "install ok installed"),
        "apt-config": lambda: Out(0, 'APT::Periodic::Unattended-Upgrade "1";\n'
                                     'Acquire::http::Proxy "https://10.22.146.14:3143/";\n'),
        "systemd-analyze": lambda: Out(0, "[Journal]\nStorage=persistent\n"),
        "test": lambda: Out(0),
        "python3": lambda: Out(0, json.dumps([probe_answer(spec) for spec in json.loads(shlex.split(command)[-1])])),
        "stat": lambda: Out(0, "".join(f"{path} 640 root\n" for path in shlex.split(command)[3:])),
        "find": lambda: Out(0, "".join(f"{NOW - 3600} {name}-20261127T0130."
                                       f"{'tar.gz' if 'tar.gz' in command else 'dump'}\n"
                                       for name in (LAB_HOSTS if "tar.gz" in command else
                                                    ("docmgmt", "onestop", "portal", "specdb")))),
        "date": lambda: Out(0, str(NOW)),
        "true": lambda: Out(0),
        "runuser": lambda: Out(0, "on\n"),  # PostgreSQL: ssl on, no plain pg_hba line
        # the directory check: both lab directory hosts answer with the same contextCSN
        "for": lambda: Out(0, "".join(f"== {a}\ndn: dc=quangninh,dc=gov,dc=vn\n"
                                      "contextCSN: 20261201121500.123456Z#000000#001#000000\n\n"
                                      for a in ("10.22.146.12", "10.22.146.13"))),
    }
    return table[words[0]]()


class FakeNode:
    """A testinfra-like host; ``broken`` maps a command's first word to the answer that breaks it."""

    def __init__(self, broken: dict[str, Out] | None = None, delay: float = 0.0, down: bool = False) -> None:
        self.broken = broken or {}
        self.delay = delay
        self.down = down

    def run(self, command: str, *args: str) -> Out:
        if self.down:
            raise OSError("No route to host")
        time.sleep(self.delay)
        text = command % tuple(shlex.quote(a) for a in args) if args else command
        return self.broken.get(text.split()[0]) or healthy_answers(text)


@pytest.fixture(scope="module")
def inv() -> Any:
    return load_inventory(LAB)


def connect_with(nodes: dict[str, FakeNode]) -> Callable[[Any], FakeNode]:
    return lambda host: nodes.get(host.name) or FakeNode()


def test_nodes_get_the_controls_and_expectations_of_their_roles(inv: Any) -> None:
    cat = load_catalogue()
    app = node_for(inv, inv.hosts["dc-app1"], cat)
    assert app.apps == {"app_docmgmt": 8101, "app_onestop": 8102, "app_portal": 8103, "app_specdb": 8104}
    assert {("tcp", 22), ("tcp", 443), ("udp", 53), ("tcp", 8103)} <= app.ports
    assert "egov-portal" in app.services and "nginx" in app.services
    assert app.app_configs["app_portal"] == "/etc/egov/portal.ini"
    assert str(inv.hosts["dc-ops1"].mgmt_ip) in app.log_targets
    district = node_for(inv, inv.hosts["qn-ty-node1"], cat)
    assert app.proxy_port == 8443 and app.entry == ("10.22.176.5", 443) and app.tls_name == inv.province.domain
    assert district.apps == {} and ("tcp", 8103) not in district.ports
    assert district.resolver_name == f"dc-app1.{inv.province.domain}"


def test_all_green(inv: Any, tmp_path: Path) -> None:
    result = run(inv, [], junit=tmp_path / "v.xml", report=tmp_path / "v.html", connect=connect_with({}))
    assert not result.failed, {n: r.error for n, r in result.items()}
    assert list(result) == list(inv.hosts)
    ops = {c["id"] for c in result["dc-ops1"].data["controls"]}
    assert {"DATA-02", "SRV-01"} <= ops and "APP-01" not in ops
    assert {"APP-01", "APP-02", "APP-03", "APP-04", "DATA-01"} <= {c["id"] for c in result["dc-app1"].data["controls"]}
    assert "NET-03" in {c["id"] for c in result["qn-ty-node1"].data["controls"]}


def test_a_failed_required_control_fails_the_node_and_names_it(inv: Any, tmp_path: Path) -> None:
    units = "\n".join(f"Id={u}.service\nLoadState=loaded\nActiveState={'failed' if u == 'postgresql' else 'active'}"
                      f"\nUnitFileState=enabled\n" for u in ("ssh", "nftables", "chrony", "rsyslog", "postgresql"))
    nodes = {"dc-db1": FakeNode({"systemctl": Out(0, units)}),
             "dc-db2": FakeNode({"dpkg-query": Out(1, "")})}  # recommended only
    result = run(inv, ["dc"], junit=tmp_path / "v.xml", report=tmp_path / "v.html", connect=connect_with(nodes))
    assert result.failed_targets == ["dc-db1"]
    assert result["dc-db1"].error == "required controls failed: SRV-02"
    srv02 = next(c for c in result["dc-db1"].data["controls"] if c["id"] == "SRV-02")
    assert "postgresql is failed" in srv02["detail"]
    srv05 = next(c for c in result["dc-db2"].data["controls"] if c["id"] == "SRV-05")
    assert not srv05["passed"] and not result["dc-db2"].failed

    suites = ET.parse(tmp_path / "v.xml").getroot()
    cases = suites.findall(".//testcase")
    assert len(cases) == sum(len(r.data["controls"]) for r in result.values())
    failures = [(c.get("classname"), c.get("name"), c.find("failure").get("type"))  # type: ignore[union-attr]
                for c in cases if c.find("failure") is not None]
    assert ("dc-db1.server", "SRV-02 The services of the host's roles are running and enabled at boot",
            "required") in failures
    assert any(str(name).startswith("SRV-05") and kind == "recommended" for _, name, kind in failures)

    html = (tmp_path / "v.html").read_text()
    assert "NOT COMPLIANT: dc-db1" in html and "postgresql is failed" in html and "<script" not in html


def test_unreachable_node_is_reported_and_others_finish(inv: Any) -> None:
    result = run(inv, ["dc"], connect=connect_with({"dc-db2": FakeNode(down=True)}))
    assert result.failed_targets == ["dc-db2"]
    assert result["dc-db2"].error.startswith("unreachable: OSError: No route to host")
    assert all(not c["passed"] for c in result["dc-db2"].data["controls"])
    assert not result["dc-app1"].failed


def test_nodes_are_verified_in_parallel(inv: Any) -> None:
    """Every node's first command waits for all seven to be at theirs: a serial run would break the
    barrier (a timing ratio instead failed on a loaded machine: 3.1 times one node's time)."""
    barrier = threading.Barrier(7, timeout=20)

    class Meeting(FakeNode):
        met = False

        def run(self, command: str, *args: str) -> Out:
            if not self.met:
                barrier.wait()
                self.met = True
            return super().run(command, *args)

    nodes: list[Meeting] = []

    def connect(host: Any) -> Meeting:
        nodes.append(Meeting())
        return nodes[-1]

    result = run(inv, [], workers=10, connect=connect)
    assert len(result) == 7 and not barrier.broken
    assert all(node.met for node in nodes) and len(nodes) == 7


def test_limit_matching_nothing_is_an_input_error(inv: Any) -> None:
    from egov.errors import InputError

    with pytest.raises(InputError, match="no host"):
        run(inv, ["qn-ty-r1"], connect=connect_with({}))


def test_cli_table_json_and_exit_codes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    nodes: dict[str, FakeNode] = {}
    monkeypatch.setattr(verify.engine, "_ssh_connect", lambda inv: connect_with(nodes))
    runner = CliRunner()
    ok = runner.invoke(main, ["verify", "-i", str(LAB), "--limit", "tien-yen", "--junit", str(tmp_path / "j.xml")])
    assert ok.exit_code == 0, ok.output
    assert "COMPLIANT: 1 nodes" in ok.output and "qn-ty-node1" in ok.output and (tmp_path / "j.xml").exists()
    nodes["qn-ty-node1"] = FakeNode({"sshd": Out(0, "passwordauthentication yes\n")})
    bad = runner.invoke(main, ["verify", "-i", str(LAB), "--limit", "tien-yen", "--json"])
    assert bad.exit_code == 1
    data = json.loads(bad.output)
    assert data["failed_targets"] == ["qn-ty-node1"]
    bad = runner.invoke(main, ["verify", "-i", str(LAB), "--limit", "tien-yen"])
    assert bad.exit_code == 1 and "NOT COMPLIANT: qn-ty-node1 SRV-01" in bad.output


def test_cli_without_lab_keys_is_a_clean_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EGOV_LAB_DIR", str(tmp_path))
    # whether this machine's lab is up is test_lab_guard's concern; here only the keys are missing
    monkeypatch.setattr("verify.engine.require_lab_up", lambda inv: None)
    result = CliRunner().invoke(main, ["verify", "-i", str(LAB)])
    assert result.exit_code == 2
    assert "id_ed25519: missing" in result.output and "Traceback" not in result.output
