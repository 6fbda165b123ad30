"""The lock-out guard: refuse, before anything is sent, a configuration that would cut the
management of the device off.

It reads the configuration the device will hold after the push (the intended one) through the
platform's driver and checks it against the ranges that must keep managing the device: the
address this push comes from and every NOC network of the inventory (SSH is allowed from those
only). For each of them:
- the SSH server stays enabled;
- SSH stays permitted (the management ACL / filter applied to the VTYs);
- the management interface is not shut down;
- no static route (other than a default route) captures the replies to it, e.g. a blackhole or a
  WAN next hop for a NOC range.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

from network.drivers.base import Driver


def protected_ranges(source: IPv4Address, noc_networks: list[IPv4Network]) -> list[IPv4Network]:
    """The push's own address first, then the NOC networks."""
    own = IPv4Network(f"{source}/32")
    return [own, *(net for net in sorted(noc_networks) if net != own)]


def lockout_problems(driver: type[Driver], intended: str, source: IPv4Address,
                     noc_networks: list[IPv4Network]) -> list[str]:
    """Why ``intended`` would lock management out of the device (empty: safe)."""
    ranges = protected_ranges(source, noc_networks)
    problems = []
    if not driver.ssh_enabled(intended):
        problems.append("the SSH server would be disabled")
    sources = driver.ssh_sources(intended)
    if sources is not None:
        refused = [r for r in ranges if not any(r.subnet_of(net) for net in sources)]
        if refused:
            allowed = ", ".join(str(n) for n in sources) or "nothing"
            problems.append(f"SSH would be refused from {', '.join(map(str, refused))} "
                            f"(the management ACL permits {allowed})")
    if driver.mgmt_interface in driver.shutdown_interfaces(intended):
        problems.append(f"the management interface {driver.mgmt_interface} would be shut down")
    for prefix, via in driver.static_routes(intended):
        captured = [r for r in ranges if prefix.prefixlen > 0 and prefix.overlaps(r)]
        if captured:
            problems.append(f"the static route {prefix} via {via} would take the replies to "
                            f"{', '.join(map(str, captured))} away from the management interface")
    return problems
