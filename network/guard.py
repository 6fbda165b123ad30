"""The lock-out guard: refuse, before anything is sent, a change that would cut the management of
the device off. It runs on every push, on ``egov net rollback`` and on the offline diff.

Two readings, both through the platform's driver:

1. **What is sent** (``Remediation.changes``: each line with the sections it is typed in, read
   against the running configuration). A line is refused when it would negate or change:
   - the push's own login (the user this session logged in as);
   - the management VRF or instance, its routes, the management interface;
   - SSH or VTY access (the SSH server, the VTY lines' transport);
   - the console (its line, root authentication on Junos).
   The rules are the driver's ``guard_rules``: regular expressions over a change's path, with
   ``{user}``, ``{vrf}`` and ``{mgmt}`` filled in from this session, the running configuration and
   the router (its model's management interface, ``Router.mgmt_interface``).
2. **What results** (``Remediation.result``: the running configuration with the change applied),
   against the ranges that must keep managing the device (the push's own address and every NOC
   network): the SSH server stays enabled; SSH stays permitted by the management ACL or filter;
   the management interface is not shut down; no static route (other than a default route)
   captures the replies to them; and authentication through AAA keeps a local fallback with a local
   user to fall back to.

3. **What the result relies on**: TLS logging (``network__syslog_transport: tls``) names the device's PKI
   object holding the router's certificate and the platform CA (``network__syslog_pki``), which the
   operator enrols on the device first and the toolkit never configures. A result whose TLS logging
   names an object the configuration lacks is refused (the driver's ``syslog_pki`` and ``pki_objects``:
   IOS ``crypto pki trustpoint``, Junos ``security pki ca-profile``, VRP ``ssl policy``). What the
   configuration does not show is not checked: a Junos local certificate (loaded by an operational
   command), and whether an object really holds a certificate and the CA.

Each refusal names the line (or the configuration fact) and the rule it breaks.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Network

from network.drivers.base import Driver, Remediation


def protected_ranges(source: IPv4Address, noc_networks: list[IPv4Network]) -> list[IPv4Network]:
    """The push's own address first, then the NOC networks."""
    own = IPv4Network(f"{source}/32")
    return [own, *(net for net in sorted(noc_networks) if net != own)]


def sent_problems(driver: type[Driver], remediation: Remediation, running: str, user: str,
                  mgmt: str | None = None) -> list[str]:
    """The lines of ``remediation`` that would negate or change what management depends on
    (``mgmt``: the router's management interface, else the platform's default)."""
    mgmt = mgmt or driver.mgmt_interface
    facts = {"user": re.escape(user), "mgmt": re.escape(mgmt)}
    vrf = driver.mgmt_vrf(running, mgmt)
    problems = []
    for change in remediation.changes:
        path = " / ".join(change)
        for rule, pattern in driver.guard_rules:
            if "{vrf}" in pattern and vrf is None:
                continue
            if re.search(pattern.format(**facts, vrf=re.escape(vrf or "")), path):
                where = f" (in {' / '.join(change[:-1])})" if len(change) > 1 else ""
                problems.append(f"'{change[-1]}'{where} would touch {rule}")
                break
    return problems


def lockout_problems(driver: type[Driver], result: str, source: IPv4Address,
                     noc_networks: list[IPv4Network], mgmt: str | None = None) -> list[str]:
    """Why the configuration ``result`` (the device's after the change) would lock management out."""
    mgmt = mgmt or driver.mgmt_interface
    ranges = protected_ranges(source, noc_networks)
    problems = []
    if not driver.ssh_enabled(result):
        problems.append("the SSH server would be disabled")
    sources = driver.ssh_sources(result)
    if sources is not None:
        refused = [r for r in ranges if not any(r.subnet_of(net) for net in sources)]
        if refused:
            allowed = ", ".join(str(n) for n in sources) or "nothing"
            problems.append(f"SSH would be refused from {', '.join(map(str, refused))} "
                            f"(the management ACL permits {allowed})")
    if mgmt in driver.shutdown_interfaces(result):
        problems.append(f"the management interface {mgmt} would be shut down")
    for prefix, via in driver.static_routes(result):
        captured = [r for r in ranges if prefix.prefixlen > 0 and prefix.overlaps(r)]
        if captured:
            problems.append(f"the static route {prefix} via {via} would take the replies to "
                            f"{', '.join(map(str, captured))} away from the management interface")
    fallback = driver.aaa_fallback_problem(result)
    if fallback:
        problems.append(fallback)
    return problems


def pki_problems(driver: type[Driver], result: str, router: str) -> list[str]:
    """Why the configuration ``result`` would log over TLS with a PKI object the device does not have
    (``router`` names the device): one line per missing object, with the fix."""
    held = driver.pki_objects(result)
    missing = [name for name in dict.fromkeys(driver.syslog_pki(result)) if name not in held]
    return [f"router {router}: TLS logging names {driver.pki_kind} {name}, which the device does not have: "
            f"enrol the router's certificate in {driver.pki_kind} {name} first, or set "
            "network__syslog_transport: udp for it" for name in missing]


def guard(driver: type[Driver], remediation: Remediation, running: str, user: str, source: IPv4Address,
          noc_networks: list[IPv4Network], mgmt: str | None = None, router: str = "the device") -> list[str]:
    """Every reason to refuse ``remediation`` on a device running ``running`` (empty: safe to send);
    ``mgmt`` is the router's management interface (its model's), else the platform's default; ``router``
    names the device in the refusals that name it."""
    if not remediation.lines:
        return []
    return [*sent_problems(driver, remediation, running, user, mgmt),
            *lockout_problems(driver, remediation.result, source, noc_networks, mgmt),
            *pki_problems(driver, remediation.result, router)]
