"""``base``: what every host of the platform gets before its roles.

Admin users and sudo, SSH hardened (keys only), sysctl hardening, an nftables default-drop
firewall that opens the ports of the host's roles, chrony against the DC's NTP servers over NTS,
unattended security upgrades, auditd, a persistent journal, rsyslog forwarding to the DC log
host(s) and apt through the DC package mirror. Against the outside audit (Lynis, index >= 80):
no core dumps, compilers for root only, AIDE file integrity baseline (real machines).

Data (``host.data``): the ``base__*`` keys, each documented once with its default in
``inventory/defaults/base.yml``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.server import Command
from pyinfra.operations import apt, files, server, systemd

from deploys import data, host_name, peers, render
from deploys.context import deploy_context
from deploys.facts.system import ContainerKind
from deploys.ops import apt_index
from deploys.ops.config import checked_file
from deploys.pki import Issued, certificate, install, issuer_of
from egov.errors import DeployError
from inventory.services import (
    HOST_CERT,
    HOST_KEY,
    NTS_KE_PORT,
    PACKAGE_MIRROR_TLS_PORT,
    SYSLOG_TLS_PORT,
    listen_ports,
    peer_ca,
    plain_syslog_sources,
    roles_of,
    router_only_ports,
)

PACKAGES = [
    "sudo", "openssh-server", "nftables", "chrony", "rsyslog", "auditd", "unattended-upgrades",
    "apt-listchanges", "needrestart", "debsums", "apt-show-versions", "libpam-tmpdir", "acct", "sysstat",
    "fail2ban", "python3-systemd", "libpam-pwquality", "rkhunter", "lynis", "aide",
    # syslog over TLS (rsyslog's gtls driver); ssl-cert: the group that may read the host's key
    "rsyslog-gnutls", "ssl-cert",
]
# the group of the host certificate's key: Debian's postgresql puts its user there, the exporters' roles theirs
KEY_GROUP = "ssl-cert"

# /etc/login.defs: password ageing, hashing rounds and the default umask (Lynis AUTH-9230/9286/9328).
LOGIN_DEFS = {"PASS_MAX_DAYS": "365", "PASS_MIN_DAYS": "1", "SHA_CRYPT_MIN_ROUNDS": "10000", "UMASK": "027"}
# Compilers on a server help an intruder build tools: root only (Lynis HRDN-7222). A dpkg
# statoverride keeps the mode through package upgrades.
COMPILERS = ("as", "cc", "gcc", "clang")
# AIDE's baseline of the installed files (Lynis FINT-4350), built once in the background (it reads
# every file: minutes) by Debian's aideinit; the daily aide check compares against it. Both run
# as the _aide user with CAP_DAC_READ_SEARCH, which a container does not get: there AIDE is
# installed and configured, and systemd skips the daily check, as it skips auditd.
_PENDING_COMPILERS = (f"for b in {' '.join(COMPILERS)}; do p=$(command -v $b) && readlink -f $p; done | sort -u | "
                      "while read -r f; do dpkg-statoverride --list $f >/dev/null || echo $f; done")
AIDE_NEEDS = "CAP_DAC_READ_SEARCH (it reads every file as the _aide user)"
AIDE_DB = "/var/lib/aide/aide.db"
AIDE_INIT_UNIT = "egov-aide-init"
# Kernel modules never needed on the platform's servers (Lynis USB-1000, STRG-1846, NETW-3200).
UNUSED_MODULES = ("usb-storage", "firewire-core", "dccp", "sctp", "rds", "tipc")

SYSCTL: dict[str, Any] = {
    # network
    "net.ipv4.conf.all.accept_redirects": 0,
    "net.ipv4.conf.default.accept_redirects": 0,
    "net.ipv4.conf.all.send_redirects": 0,
    "net.ipv4.conf.default.send_redirects": 0,
    "net.ipv4.conf.all.accept_source_route": 0,
    "net.ipv4.conf.default.accept_source_route": 0,
    "net.ipv4.conf.all.log_martians": 1,
    "net.ipv4.conf.default.log_martians": 1,
    "net.ipv4.conf.all.rp_filter": 1,
    "net.ipv4.icmp_echo_ignore_broadcasts": 1,
    "net.ipv4.tcp_syncookies": 1,
    # kernel
    "kernel.kptr_restrict": 2,
    "kernel.dmesg_restrict": 1,
    "kernel.sysrq": 0,
    "kernel.yama.ptrace_scope": 1,
    "kernel.core_uses_pid": 1,
    "fs.protected_hardlinks": 1,
    "fs.protected_symlinks": 1,
    "fs.suid_dumpable": 0,
    "dev.tty.ldisc_autoload": 0,
}
# Docker mounts /proc/sys read-only in a container: the settings are written (they apply when
# the image boots on a real machine) but loaded only outside containers; `egov verify` reads the
# live values on real hosts. The lab could pass the net.* keys with `docker run --sysctl`.

# Units that need the machine's kernel (auditd: the audit netlink socket; acct: CAP_SYS_PACCT).
# They are installed, configured and enabled everywhere; in a container systemd skips them.
KERNEL_UNITS = {"auditd": "the kernel's audit netlink socket", "acct": "CAP_SYS_PACCT"}

# sshd's algorithms, strongest first (the template says which CIS items they follow). Every one is
# also offered by paramiko, which pyinfra and the verifier connect with.
SSH_CIPHERS = ("chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com", "aes128-gcm@openssh.com",
               "aes256-ctr", "aes192-ctr", "aes128-ctr")
SSH_MACS = ("hmac-sha2-512-etm@openssh.com", "hmac-sha2-256-etm@openssh.com", "hmac-sha2-512", "hmac-sha2-256")
SSH_KEX = ("sntrup761x25519-sha512@openssh.com", "curve25519-sha256", "curve25519-sha256@libssh.org",
           "ecdh-sha2-nistp521", "ecdh-sha2-nistp384", "ecdh-sha2-nistp256", "diffie-hellman-group-exchange-sha256",
           "diffie-hellman-group16-sha512", "diffie-hellman-group18-sha512", "diffie-hellman-group14-sha256")


def _admin_keys(user: dict[str, Any]) -> list[str]:
    path = user.get("keys_file") or f"{host.data.get('ssh_key')}.pub"
    try:
        lines = Path(str(path)).expanduser().read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DeployError(f"{host_name()}: admin user {user['name']}: cannot read keys_file {path}: "
                          f"{exc.strerror}") from None
    keys = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    if not keys:
        raise DeployError(f"{host_name()}: admin user {user['name']}: {path} holds no public key")
    return keys


def firewall_rules(roles: list[str], extra: list[str], host_vars: Mapping[str, Any], name: str = "",
                   plain_sources: list[str] | None = None) -> list[str]:
    """nftables match texts for the ports the host's roles listen on (``tcp/53`` -> ``tcp dport 53``;
    ``inventory.services.listen_ports``, which reads the settings in ``host_vars``) and ``extra``.
    A port that serves the routers only is opened from ``plain_sources`` (the loopbacks of
    the routers that send plain syslog) alone, and not at all without one."""
    only_routers = set(router_only_ports(roles))
    rules = []
    for port in [*listen_ports(roles, host_vars, name), *extra]:
        proto, _, number = port.partition("/")
        if proto == "vrrp":
            rules.append("ip protocol vrrp")
        elif port in only_routers:
            if plain_sources:
                rules.append(f"ip saddr {{ {', '.join(plain_sources)} }} {proto} dport {number}")
        elif proto in ("tcp", "udp") and number.isdigit():
            rules.append(f"{proto} dport {number}")
        else:
            rules.append(port)  # raw nft match text from the inventory
    return rules


# The CA of the DC mirror's certificate, for apt alone: written before the first apt run, which
# comes before the host's trust store has the platform CA (``install`` below).
APT_MIRROR_CA = "/etc/apt/egov-mirror-ca.crt"


def _apt() -> None:
    from deploys.mirror import upstream_proxy

    mirrors = [(name, addr) for name, addr in peers("mirror") if name != host_name()]
    if mirrors:
        # apt's proxy over HTTPS (apt 2.6, apt-transport-http(1)): the mirror's nginx checked for its
        # address against the CA that issued its certificate ("": a public one, the system's store)
        name, address = mirrors[0]
        ca_pem = issuer_of("host", deploy_context().inventory.hosts[name].vars)
        if ca_pem:
            files.put(name="apt: the CA of the DC mirror's certificate", src=_text(ca_pem), dest=APT_MIRROR_CA,
                      mode="644")
        content = render("base", "apt-proxy.conf.j2", proxy=f"https://{address}:{PACKAGE_MIRROR_TLS_PORT}/",
                         mirror=address, ca=APT_MIRROR_CA if ca_pem else None)
    else:
        upstream = upstream_proxy("base__apt_upstream_proxy")
        content = render("base", "apt-proxy.conf.j2", proxy=upstream, mirror=None, ca=None) if upstream else ""
    if content:
        checked_file(name="apt through the DC mirror", path="/etc/apt/apt.conf.d/90egov-mirror", content=content)
    # the packages of the roles applied with base too, in the same transaction (deploys/packages.py)
    from deploys.packages import of_roles

    full, lean = of_roles(host.data.get("egov_step_roles") or roles_of(host.data.get("egov_roles") or []))
    apt_index.update(name="package lists", _retries=apt_index.UPDATE_RETRIES, _retry_delay=5)
    packages = apt.packages(name="packages of base and the host's roles",
                            packages=[*PACKAGES, *data("base__packages"), *full])
    if lean:
        apt.packages(name="packages of the host's roles without their recommended ones", packages=lean,
                     no_recommends=True)
    # compilers these packages bring in (binutils' as) did not exist when facts were gathered
    server.shell(name="compilers installed now: root only", commands=[
        f"{_PENDING_COMPILERS} | while read -r f; do dpkg-statoverride --update --add root root 0750 $f; done"],
        _if=packages.did_change)
    checked_file(name="unattended security upgrades", path="/etc/apt/apt.conf.d/20auto-upgrades",
                 content=render("base", "auto-upgrades.conf.j2"))


def _admins() -> None:
    group = data("base__admin_group")
    server.group(name=f"group {group}", group=group)
    for user in data("base__admin_users"):
        server.user(name=f"admin user {user['name']}", user=user["name"], groups=[group], shell="/bin/bash",
                    create_home=True, public_keys=_admin_keys(user), ensure_home=True)
    checked_file(name="sudo for the admins", path="/etc/sudoers.d/egov-admins", mode="440",
                 content=render("base", "sudoers.j2", group=group), check="visudo -cf {path}")


def _accounts() -> None:
    for key, value in LOGIN_DEFS.items():
        files.line(name=f"login.defs {key}", path="/etc/login.defs", line=rf"^{key}\s.*",
                   replace=f"{key}\t{value}")
    for name, template, dest in (
        ("no core dumps (limits)", "limits.conf.j2", "/etc/security/limits.d/egov.conf"),
        ("no core dumps (systemd)", "coredump.conf.j2", "/etc/systemd/coredump.conf.d/egov.conf"),
        ("no core dumps (login shells)", "profile.sh.j2", "/etc/profile.d/egov-hardening.sh"),
    ):
        files.put(name=name, src=_text(render("base", template)), dest=dest, mode="644", create_remote_dir=True)
    _compilers_root_only()
    files.put(name="unused kernel modules", src=_text(render("base", "modprobe.conf.j2", modules=UNUSED_MODULES)),
              dest="/etc/modprobe.d/egov-unused.conf", mode="644")
    checked_file(name="fail2ban: SSH jail", path="/etc/fail2ban/jail.local", content=render("base", "jail.local.j2"),
                 check="fail2ban-client -t >/dev/null", reload="systemctl restart fail2ban")
    systemd.service(name="fail2ban running", service="fail2ban", running=True, enabled=True)
    files.line(name="sysstat collects", path="/etc/default/sysstat", line=r"^ENABLED=.*", replace='ENABLED="true"')
    systemd.service(name="sysstat enabled", service="sysstat", running=True, enabled=True)


def _compilers_root_only() -> None:
    # decided on the host: the compilers present whose mode is not yet overridden
    pending = (host.get_fact(Command, command=_PENDING_COMPILERS) or "").split()
    for path in pending:
        server.shell(name=f"compiler {path}: root only",
                     commands=[f"dpkg-statoverride --update --add root root 0750 {path}"])


def _file_integrity(container: bool) -> None:
    # Debian's default (``H``) computes every hash AIDE knows; SHA-512 alone is as strong and
    # reads each file once.
    files.line(name="AIDE checksums: SHA-512", path="/etc/aide/aide.conf", line=r"^Checksums\s*=.*",
               replace="Checksums = sha512")
    checked_file(name="dailyaidecheck: real machines only",
                 path="/etc/systemd/system/dailyaidecheck.service.d/egov-virt.conf",
                 content=render("base", "not-in-container.conf.j2", unit="dailyaidecheck", needs=AIDE_NEEDS),
                 reload="systemctl daemon-reload")
    if container:
        return
    # Re-run only when neither the database nor a running initialisation exists.
    needed = (host.get_fact(Command, command=(
        f"test -e {AIDE_DB} || systemctl is-active -q {AIDE_INIT_UNIT} || echo init")) or "").strip()
    if needed:
        server.shell(name="AIDE baseline (background)", commands=[
            f"systemctl reset-failed {AIDE_INIT_UNIT} 2>/dev/null || true",
            (f"systemd-run --unit={AIDE_INIT_UNIT} --property=Nice=19 --property=IOSchedulingClass=idle "
             "/usr/sbin/aideinit --yes --force"),
        ])


def _ssh() -> None:
    banner = render("base", "issue.net.j2", banner=data("base__login_banner"))
    for path in ("/etc/issue.net", "/etc/issue"):
        files.put(name=f"login banner {path}", src=_text(banner), dest=path, mode="644")
    roles = list(host.data.get("egov_roles") or [])
    checked_file(
        name="sshd hardened", path="/etc/ssh/sshd_config.d/10-egov.conf",
        content=render("base", "sshd.conf.j2", permit_root_login="prohibit-password",
                       max_sessions=4, tcp_forwarding="bastion" in roles, ciphers=SSH_CIPHERS, macs=SSH_MACS,
                       kex=SSH_KEX),
        check="sshd -t", reload="systemctl reload-or-restart ssh",
    )


def _sysctl(container: bool) -> None:
    settings = {**SYSCTL, **data("base__sysctl")}
    content = render("base", "sysctl.conf.j2", settings=sorted(settings.items()))
    checked_file(name="sysctl hardening", path="/etc/sysctl.d/90-egov.conf", content=content,
                 reload=None if container else "sysctl -q -p /etc/sysctl.d/90-egov.conf")


def _firewall() -> None:
    ssh_from = data("base__ssh_allow_from")
    if ssh_from is None:  # null: derived, see inventory/defaults/base.yml
        ssh_from = [str(n) for n in deploy_context().inventory.noc_networks]
    if not ssh_from:
        raise DeployError(f"{host_name()}: ssh_allow_from is empty; refusing a firewall that would lock SSH out")
    # and from the backup hosts, which pull every host's files over SSH (deploys/backup.py)
    backup_hosts = [addr for name, addr in peers("backup") if name != host_name()]
    try:
        ssh_from = [str(n) for n in ipaddress.collapse_addresses(
            ipaddress.IPv4Network(str(n)) for n in [*ssh_from, *backup_hosts])]
    except ValueError as exc:
        raise DeployError(f"{host_name()}: base__ssh_allow_from: {exc}") from None
    rules = firewall_rules(list(host.data.get("egov_roles") or []), data("base__firewall_open"), host.data.dict(),
                           host_name(), plain_syslog_sources(deploy_context().inventory))
    checked_file(name="nftables default-drop", path="/etc/nftables.conf", mode="755",
                 content=render("base", "nftables.conf.j2", ssh_from=ssh_from, rules=rules),
                 check="nft -c -f {path}", reload="nft -f /etc/nftables.conf")
    systemd.service(name="nftables enabled", service="nftables", running=True, enabled=True)


# Wait for a synchronisation after a new configuration, and whenever the host is out of sync (a
# host deployed before the DC's time servers existed, e.g. the mirror): a node verified right
# after a deploy is then in sync. A client whose first questions went unanswered backs off for
# minutes, so it is asked to poll every source again at once. A host still out of sync is left
# to SRV-03 to report: time is not worth failing the deploy over.
CHRONY_SYNC = ("chronyc waitsync 15 0 0 1 >/dev/null || "
               "{ chronyc burst 4/4 >/dev/null; chronyc waitsync 20 0 0 1 >/dev/null; } || true")
CHRONY_LEAP = "chronyc -n tracking 2>/dev/null | sed -n 's/^Leap status *: //p'"


def chrony(container: bool, servers: list[str], nts_servers: list[str], peer_hosts: list[str], allow: list[str],
           local_stratum: int, nts_key_pair: tuple[str, str] | None = None) -> None:
    """chronyd with ``servers`` (plain NTP) and ``nts_servers`` (NTS, each checked against the
    platform CA for its address); ``nts_key_pair``: (certificate, key) to serve NTS key establishment
    with. Used by ``base`` (clients) and ``ntp`` (the DC's servers)."""
    in_sync = (host.get_fact(Command, command=CHRONY_LEAP) or "").strip() == "Normal"
    cert, key = nts_key_pair or ("", "")
    if container:
        checked_file(name="chrony without CAP_SYS_TIME (container)",
                     path="/etc/systemd/system/chrony.service.d/egov-container.conf",
                     content=render("base", "chrony-container.conf.j2"), reload="systemctl daemon-reload")
    options = checked_file(name="chrony options", path="/etc/default/chrony",
                           content=render("base", "chrony.default.j2", container=container),
                           reload="systemctl restart chrony")
    config = checked_file(name="chrony servers", path="/etc/chrony/chrony.conf",
                          check="chronyd -p -f {path} >/dev/null",
                          content=render("base", "chrony.conf.j2", servers=servers, nts_servers=nts_servers,
                                         peers=peer_hosts, allow=allow, local_stratum=local_stratum,
                                         ca=host_tls()[2], nts_cert=cert, nts_key=key, nts_port=NTS_KE_PORT),
                          reload="systemctl restart chrony")
    systemd.service(name="chrony running", service="chrony", running=True, enabled=True)

    def restarted() -> bool:
        return bool(options.did_change() or config.did_change())

    server.shell(name="chrony synchronised", commands=[CHRONY_SYNC], _if=restarted if in_sync else None)


def timer(unit: str, description: str, command: str, on_calendar: str, user: str = "root") -> None:
    """A scheduled job: ``<unit>.service`` (oneshot) and ``<unit>.timer``, enabled and started.
    Minimal Debian has no cron; systemd timers also log each run to the journal."""
    for suffix, template in ((".service", "job.service.j2"), (".timer", "job.timer.j2")):
        checked_file(name=f"{unit}{suffix}", path=f"/etc/systemd/system/{unit}{suffix}",
                     content=render("base", template, unit=unit, description=description, command=command,
                                    user=user, on_calendar=on_calendar),
                     reload="systemctl daemon-reload")
    systemd.service(name=f"{unit}.timer enabled", service=f"{unit}.timer", running=True, enabled=True)


def host_tls() -> tuple[str, str, str]:
    """Where base puts the host's own certificate and its key (readable by group ``KEY_GROUP``),
    and the CA file its peers' certificates chain to (``inventory.services.peer_ca``)."""
    return HOST_CERT, HOST_KEY, peer_ca({key: data(key) for key in ("host__cert_file", "host__ca_file")})


def host_certificate() -> Issued:
    """``host__cert_file``/``host__key_file``/``host__ca_file``, or the lab CA's certificate for the
    host's name, its name in the province's domain and its addresses; base installs it (``host_tls``)."""
    names = [host_name(), f"{host_name()}.{host.data.get('egov_domain')}",
             *sorted({str(a) for a in (host.data.get("egov_mgmt_ip"), host.data.get("egov_server_ip")) if a})]
    return certificate(f"host-{host_name()}", names, prefix="host", client_auth=True)


def _logging(container: bool) -> None:
    files.directory(name="persistent journal", path="/var/log/journal", mode="2755", group="systemd-journal")
    checked_file(name="journald persistent", path="/etc/systemd/journald.conf.d/egov.conf",
                 content=render("base", "journald.conf.j2", max_use=data("base__journal_max_use")),
                 reload="systemctl restart systemd-journald")
    targets = [(name, addr) for name, addr in peers("log") if name != host_name()]
    cert, key, ca = host_tls()
    checked_file(name="rsyslog forwarding to the DC log host over TLS", path="/etc/rsyslog.d/90-egov-forward.conf",
                 content=render("base", "rsyslog-forward.conf.j2", managed_by="deploys/base.py", targets=targets,
                                port=SYSLOG_TLS_PORT, cert=cert, key=key, ca=ca),
                 check="rsyslogd -N1 >/dev/null", reload="systemctl restart rsyslog")
    systemd.service(name="rsyslog running", service="rsyslog", running=True, enabled=True)
    checked_file(name="audit rules", path="/etc/audit/rules.d/egov.rules", mode="640",
                 content=render("base", "audit.rules.j2"),
                 reload="augenrules --check >/dev/null" if container else "augenrules --load")
    for unit, needs in KERNEL_UNITS.items():
        checked_file(name=f"{unit}: real machines only", path=f"/etc/systemd/system/{unit}.service.d/egov-virt.conf",
                     content=render("base", "not-in-container.conf.j2", unit=unit, needs=needs),
                     reload="systemctl daemon-reload")
        systemd.service(name=f"{unit} enabled", service=unit, running=not container, enabled=True)


def _text(content: str) -> Any:
    from io import StringIO

    return StringIO(content)


@deploy("Base")
def apply() -> None:
    """Apply the base hardening and services to the current host (see the module docstring)."""
    container = bool(host.get_fact(ContainerKind))
    server.timezone(name="time zone", timezone=data("base__timezone"))
    _apt()
    _admins()
    _accounts()
    _file_integrity(container)
    _ssh()
    install(host_certificate(), "host", key_group=KEY_GROUP)
    _sysctl(container)
    _firewall()
    ntp_hosts = [addr for name, addr in peers("ntp") if name != host_name()]
    if "ntp" not in (host.data.get("egov_roles") or []):
        chrony(container, servers=[], nts_servers=ntp_hosts, peer_hosts=[], allow=[], local_stratum=0)
    _logging(container)
