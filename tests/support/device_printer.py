"""Simulated devices for round-trip tests: load a configuration as the device printed it, apply the
lines a push sends with the device's own CLI semantics, and print the result as the device prints it.

Written from the vendors' documentation of their CLIs and of ``show running-config`` /
``display current-configuration`` / ``show configuration``, not from this project's templates or
drivers (nothing here imports ``network``): a round trip (render, remediation, apply, print, a second
remediation) then proves the driver reads each platform's own output.

What each platform does to a configuration it is given, as modelled here:

- Cisco IOS XE ("Configuration Fundamentals", "Security: Passwords and Privileges", "IP Access
  Lists"): headers ``Building configuration...`` and ``Current configuration : N bytes``, ``!``
  between sections, ``end``; a line replaces the earlier one of its kind (``ip address``, timers);
  ``no shutdown`` is not printed; values equal to the default are not printed (``ip ospf
  hello-interval 10``, ``dead-interval 40``, ``ip ssh time-out 120``, ``auto-cost reference-bandwidth
  100``); secrets are hashed (``secret 9 $9$...``, ``key 7 ...`` with ``service password-encryption``);
  a standard ACL's host entry is printed without its ``0.0.0.0`` wildcard and host entries come
  first, in hash order.
- Huawei VRP ("Basic Configuration: display current-configuration"): a version header, ``#``
  between blocks, global commands printed with one leading space (V8: at the left margin, `` #``
  between the views inside a view), ``return``; ``quit`` leaves a
  view; ``undo`` removes; ``rule N permit source A 0.0.0.0`` is printed ``... A 0``; ``ospf timer
  hello 10``/``dead 40`` and ``bandwidth-reference 100`` are not printed; local-user passwords are
  printed as ``irreversible-cipher $1c$...$`` and shared keys as ``cipher %^%#...%^%#``.
- Juniper Junos ("CLI User Guide: show configuration"): ``## Last commit: ...``, ``version ...;``,
  4-space indented braces, a one-statement container on one line, ``delete`` removes a whole
  subtree; a ``secret``/``encrypted-password`` is printed ``$9$``-encrypted with ``## SECRET-DATA``.
- FRR 8.4 (``show running-config``): ``Building configuration...``, ``frr version``/``frr defaults``,
  ``!`` between sections, each section closed by ``exit``, ``end``; defaults not printed.

To teach a device a new command: add it to its class's ``SECTIONS`` (it opens a view),
``REPLACES`` (a later one replaces an earlier one), ``DEFAULTS`` (not printed) or ``SECRETS``.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from dataclasses import dataclass, field
from typing import ClassVar


def fake_hash(text: str, length: int = 43) -> str:
    """A stable stand-in for the device's one-way hash of a secret (same input, same output)."""
    digest = hashlib.sha256(text.encode()).hexdigest()
    return (digest * 2)[:length]


@dataclass
class Node:
    """One configuration line and the lines under it."""

    text: str
    children: list[Node] = field(default_factory=list)

    def find(self, text: str) -> Node | None:
        return next((child for child in self.children if child.text == text), None)


@dataclass
class LineRange(Node):
    """``line vty 0 15``: the mode of several terminal lines at once; what is typed applies to each."""

    members: list[Node] = field(default_factory=list)


class IosDevice:
    """A Cisco IOS XE router's configuration database and its printer."""

    NEGATION: ClassVar[str] = "no "
    EXIT: ClassVar[tuple[str, ...]] = ("exit",)
    END: ClassVar[tuple[str, ...]] = ("end",)
    # lines that open a configuration mode (the device's grammar), matched against the line's path: the
    # lines of the modes it is typed in and itself, joined by " / " (a top-level line is its own path)
    SECTIONS: ClassVar[tuple[str, ...]] = (
        r"^interface \S+$", r"^router \S+( \d+)?$", r"^line (con|aux|vty) \d+( \d+)?$",
        r"^ip access-list (standard|extended) \S+$", r"^(tacacs|radius) server \S+$", r"^aaa group server \S+ \S+$",
        r"^vrf definition \S+$", r"^vrf definition \S+ / address-family \S+$", r"^crypto pki trustpoint \S+$",
        r"^crypto pki certificate chain \S+$", r"^crypto pki certificate chain \S+ / certificate .*$",
        r"^logging tls-profile \S+$",
        r"^key chain \S+$", r"^key chain \S+ / key \d+$", r"^control-plane$", r"^redundancy$", r"^call-home$",
        r"^call-home / profile \S+$", r"^archive$",
    )
    # a later line whose match equals an earlier one's replaces it (the first group, else the match)
    REPLACES: ClassVar[tuple[str, ...]] = (
        r"^hostname ", r"^ip address ", r"^description ", r"^ip ospf hello-interval ", r"^ip ospf dead-interval ",
        r"^ip ospf \d+ area ", r"^ip ospf network ", r"^router-id ", r"^auto-cost reference-bandwidth ",
        r"^timers throttle spf ", r"^ip ssh version ", r"^ip ssh time-out ", r"^transport input ",
        r"^exec-timeout ", r"^(login)( |$)", r"^logging trap ", r"^ip domain name ", r"^enable secret ",
        r"^(username \S+) ", r"^(\d+) (permit|deny) ", r"^(key-string) ", r"^(key) ", r"^(address ipv4) ",
        r"^(access-class \S+ in)", r"^(vrf forwarding) ", r"^(ntp authentication-key \d+) ", r"^(ntp server \S+)( |$)",
    )
    # values the platform does not print because they are its defaults
    DEFAULTS: ClassVar[tuple[str, ...]] = (
        r"^ip ospf hello-interval 10$", r"^ip ospf dead-interval 40$", r"^ip ssh time-out 120$",
        r"^auto-cost reference-bandwidth 100$", r"^timers throttle spf 50 200 5000$",
    )
    # (pattern with the secret as group "secret", how the device prints it)
    SECRETS: ClassVar[tuple[tuple[str, str], ...]] = (
        (r"^(?P<head>(enable|username \S+( privilege \d+)?) secret )(0 )?(?P<secret>\S+)$", r"\g<head>9 $9${hash}"),
        # a TACACS+ server's key; not a key chain's `key 1` (a key id, printed as typed)
        (r"^(?P<head>key )(0 )?(?P<secret>(?!\d+$)\S+)$", r"\g<head>7 {hex}"),
        (r"^(?P<head>key-string )(0 )?(?P<secret>\S+)$", r"\g<head>7 {hex}"),
        (r"^(?P<head>ip ospf message-digest-key \d+ md5 )(0 )?(?P<secret>\S+)$", r"\g<head>7 {hex}"),
        # an NTP key: the encryption type after the key ("ntp authentication-key 42 md5 0822455D0A16 7")
        (r"^(?P<head>ntp authentication-key \d+ \S+ )(?P<secret>\S+)$", r"\g<head>{hex} 7"),
    )
    # negations the device keeps as lines (a default the operator turned off)
    # (CDP runs on every interface by default; `no lldp transmit`/`receive` are printed once set)
    PRINTED_NEGATIONS: ClassVar[tuple[str, ...]] = (r"^no ip domain lookup$", r"^no ip http ", r"^no service ",
                                                    r"^no cdp enable$", r"^no lldp (transmit|receive)$")
    HEADER: ClassVar[tuple[str, ...]] = (r"^Building configuration", r"^Current configuration", r"^!", r"^end$")
    # lines the device takes but never prints: SNMPv3 users are kept apart ("show snmp user" lists them),
    # per Cisco's SNMP configuration guide
    UNSHOWN: ClassVar[tuple[str, ...]] = (r"^snmp-server user ",)

    def __init__(self, text: str) -> None:
        self.root = Node("")
        self.load(text)
        self.root.children = [one for node in self.root.children for one in self._expand(node)]

    @staticmethod
    def _expand(node: Node) -> list[Node]:
        """IOS keeps one configuration per terminal line; "line vty 0 4" is how it prints several alike."""
        m = re.match(r"^line vty (\d+) (\d+)$", node.text)
        if not m:
            return [node]
        return [Node(f"line vty {n}", [Node(c.text, list(c.children)) for c in node.children])
                for n in range(int(m.group(1)), int(m.group(2)) + 1)]

    # ---- reading what the device printed (its saved state) ----------------------------------

    def load(self, text: str) -> None:
        stack: list[tuple[int, Node]] = [(-1, self.root)]
        for raw in text.splitlines():
            if not raw.strip() or any(re.search(p, raw) for p in self.HEADER):
                continue
            indent = len(raw) - len(raw.lstrip())
            while stack[-1][0] >= indent:
                stack.pop()
            node = Node(raw.strip())
            stack[-1][1].children.append(node)
            stack.append((indent, node))

    # ---- the CLI --------------------------------------------------------------------------

    def is_section(self, path: str) -> bool:
        return any(re.search(p, path) for p in self.SECTIONS)

    @staticmethod
    def _key(patterns: tuple[str, ...], text: str) -> str | None:
        for pattern in patterns:
            m = re.search(pattern, text)
            if m:
                return m.group(1) if m.groups() else m.group(0)
        return None

    def apply(self, lines: list[str]) -> None:
        """Type ``lines`` in configuration mode."""
        stack = [self.root]
        for line in (raw.strip() for raw in lines):
            if not line:
                continue
            path = " / ".join([node.text for node in stack[1:]] + [line])
            if line in self.END:
                stack = [self.root]
            elif line in self.EXIT:
                if len(stack) > 1:
                    stack.pop()
            elif line.startswith(self.NEGATION):
                for parent in stack[-1].members if isinstance(stack[-1], LineRange) else [stack[-1]]:
                    self.negate(parent, line.removeprefix(self.NEGATION))
            elif (m := re.match(r"^line vty (\d+) (\d+)$", line)) and len(stack) == 1:
                members = []
                for n in range(int(m.group(1)), int(m.group(2)) + 1):
                    member = self.root.find(f"line vty {n}") or self.add(self.root, f"line vty {n}")
                    members.append(member)
                stack.append(LineRange(line, members=members))
            else:
                targets = stack[-1].members if isinstance(stack[-1], LineRange) else [stack[-1]]
                entered = [parent.find(line) or self.add(parent, line) for parent in targets]
                if self.is_section(path):
                    stack.append(entered[0])

    def add(self, parent: Node, line: str) -> Node:
        key = self._key(self.REPLACES, line)
        if key is not None:
            parent.children = [c for c in parent.children if self._key(self.REPLACES, c.text) != key]
        node = Node(line)
        parent.children.append(node)
        return node

    def negate(self, parent: Node, text: str) -> None:
        kept = [c for c in parent.children if not (c.text == text or c.text.startswith(text + " "))]
        if len(kept) == len(parent.children) and any(re.search(p, f"{self.NEGATION}{text}")
                                                     for p in self.PRINTED_NEGATIONS):
            kept.append(Node(f"{self.NEGATION}{text}"))
        parent.children = kept

    # ---- printing -------------------------------------------------------------------------

    def shown(self, node: Node) -> str | None:
        """How the device prints one line (None: it does not print it)."""
        text = node.text
        if any(re.search(p, text) for p in self.DEFAULTS) or text == "no shutdown":
            return None
        if any(re.search(p, text) for p in self.UNSHOWN):
            return None
        for pattern, form in self.SECRETS:
            m = re.search(pattern, text)
            if m and not m.group("secret").startswith("$"):
                secret = m.group("secret")
                return re.sub(pattern, form.replace("{hash}", fake_hash(secret)).replace(
                    "{hex}", fake_hash(secret, 20).upper()), text)
        return text

    def ordered(self, parent: Node) -> list[Node]:
        children = parent.children
        if parent.text.startswith("ip access-list standard "):
            # host entries (wildcard 0.0.0.0) are kept in a hash table and printed first, in hash order
            def host(child: Node) -> bool:
                return bool(re.match(r"^\d+ (permit|deny) \S+( 0\.0\.0\.0)?$", child.text))
            hosts = sorted((c for c in children if host(c)), key=lambda c: fake_hash(c.text.split()[2]))
            return hosts + [c for c in children if not host(c)]
        return children

    def entry(self, node: Node, depth: int) -> list[str]:
        text = self.shown(node)
        if text is None:
            return []
        text = re.sub(r"^(\d+ (permit|deny) \S+) 0\.0\.0\.0$", r"\1", text)
        text = re.sub(r"^(\d+ (permit|deny)) host (\S+)$", r"\1 \3", text)
        lines = [" " * depth + text]
        for child in self.ordered(node):
            lines += self.entry(child, depth + 1)
        return lines

    def grouped(self) -> list[Node]:
        """Consecutive terminal lines configured alike print as one range ("line vty 0 15"); lines 0-4
        and 5-15 print apart (uncertain: how IOS XE groups them varies by release; the driver compares
        line by line whatever the grouping)."""
        out: list[Node] = []
        run: list[tuple[int, Node]] = []

        def flush() -> None:
            if run:
                first, last = run[0][0], run[-1][0]
                name = f"line vty {first} {last}" if last > first else f"line vty {first}"
                out.append(Node(name, run[0][1].children))
                run.clear()

        for node in self.root.children:
            m = re.match(r"^line vty (\d+)$", node.text)
            if m is None:
                flush()
                out.append(node)
                continue
            n = int(m.group(1))
            if run and (run[-1][0] != n - 1 or n == 5 or [c.text for c in run[0][1].children] != [
                    c.text for c in node.children]):
                flush()
            run.append((n, node))
        flush()
        return out

    def body(self) -> list[str]:
        lines: list[str] = []
        for node in self.grouped():
            if node.children or self.is_section(node.text):
                lines.append("!")
            lines += self.entry(node, 0)
        return lines

    def show(self) -> str:
        body = "\n".join([*self.body(), "!", "end"]) + "\n"
        return f"Building configuration...\n\nCurrent configuration : {len(body)} bytes\n{body}"


class FrrDevice(IosDevice):
    """FRR 8.4's vtysh: the IOS family's CLI, its own printing (``exit`` after each section)."""

    SECTIONS = (r"^interface \S+$", r"^router \S+$", r"^line vty$", r"^key chain \S+$",
                r"^key chain \S+ / key \d+$", r"^route-map \S+ \S+ \d+$")
    DEFAULTS = (r"^ip ospf hello-interval 10$", r"^ip ospf dead-interval 40$", r"^timers throttle spf 0 50 5000$",
                r"^auto-cost reference-bandwidth 100000$")
    PRINTED_NEGATIONS = (r"^no ipv6 forwarding$",)
    UNSHOWN = ()
    HEADER = (*IosDevice.HEADER, r"^\s*exit$", r"^frr (version|defaults) ")
    # FRR prints OSPF MD5 keys as given (`ip ospf message-digest-key 1 md5 KEY`, seen on FRR 8.4.4 in
    # the lab): only `password` lines are encrypted, and only with `service password-encryption`
    SECRETS = ()

    def entry(self, node: Node, depth: int) -> list[str]:
        lines = super().entry(node, depth)
        return [*lines, "exit"] if lines and depth == 0 and self.is_section(node.text) else lines

    def show(self) -> str:
        return "\n".join(["Building configuration...", "", "Current configuration:", "!", "frr version 8.4.4",
                          "frr defaults traditional", *self.body(), "!", "end"]) + "\n"


class VrpDevice(IosDevice):
    """A Huawei VRP router's configuration database and its printer."""

    NEGATION = "undo "
    EXIT = ("quit",)
    UNSHOWN = ()  # VRP prints its SNMPv3 users (`snmp-agent usm-user v3 ...`, keys encrypted)
    END = ("return",)
    SECTIONS = (
        r"^interface \S+$", r"^ospf \d+( router-id \S+)?$", r"^ospf \d+( router-id \S+)? / area \S+$", r"^aaa$",
        r"^aaa / (authentication|authorization|accounting)-scheme \S+$", r"^aaa / domain \S+$",
        r"^aaa / local-aaa-user password policy \S+$", r"^acl( number)? \d+$", r"^acl name \S+.*$",
        r"^user-interface (con|vty) \d+( \d+)?$", r"^hwtacacs-server template \S+$", r"^pki realm \S+$",
        r"^firewall zone \S+$", r"^ip vpn-instance \S+$", r"^ip vpn-instance \S+ / ipv4-family$",
        r"^ssl policy \S+$",
    )
    REPLACES = (
        r"^sysname ", r"^ip address ", r"^description ", r"^ospf timer hello ", r"^ospf timer dead ",
        r"^ospf network-type ", r"^bandwidth-reference ", r"^spf-schedule-interval ", r"^authentication-mode ",
        r"^authorization-mode ", r"^protocol inbound ", r"^(rule \d+) ", r"^header login ", r"^idle-timeout ",
        r"^(local-user \S+ password) ", r"^(local-user \S+ privilege level) ", r"^(hwtacacs-server shared-key) ",
        r"^(ntp-service authentication-keyid \d+) ", r"^(ntp-service unicast-server \S+)( |$)",
    )
    DEFAULTS = (r"^ospf timer hello 10$", r"^ospf timer dead 40$", r"^bandwidth-reference 100$")
    SECRETS = (
        (r"^(?P<head>local-user \S+ password (irreversible-cipher|cipher) )(?P<secret>\S+)$", r"\g<head>$1c${hash}$"),
        (r"^(?P<head>hwtacacs-server shared-key cipher )(?P<secret>\S+)$", r"\g<head>%^%#{hash}%^%#"),
        (r"^(?P<head>ospf authentication-mode hmac-sha256 \d+ cipher )(?P<secret>\S+)$", r"\g<head>%^%#{hash}%^%#"),
        (r"^(?P<head>ntp-service authentication-keyid \d+ authentication-mode \S+ cipher )(?P<secret>\S+)$",
         r"\g<head>%^%#{hash}%^%#"),
    )
    # (`lldp enable` globally enables every interface; the interface's `undo lldp enable` is printed)
    PRINTED_NEGATIONS = (r"^undo telnet ", r"^undo http ", r"^undo lldp enable$")
    HEADER = (r"^\s*#", r"^return$", r"^!", r"^\[V\d+")
    GLOBAL_INDENT = " "  # V5 prints global commands with one leading space

    def __init__(self, text: str) -> None:
        first = next((line for line in text.splitlines() if re.match(r"^(\[V\d+|!Software Version)", line)), "")
        self.version = first or "!Software Version V800R021C10SPC100"
        super().__init__(text)

    def load(self, text: str) -> None:
        """``#`` closes every view: what follows it with one leading space is a global command."""
        blocks: list[list[str]] = [[]]
        for raw in text.splitlines():
            if raw.startswith("#"):
                blocks.append([])
            elif raw.strip() and not any(re.search(p, raw) for p in self.HEADER):
                blocks[-1].append(raw)
        for block in blocks:
            lead = len(block[0]) - len(block[0].lstrip()) if block and block[0].startswith(" ") else 0
            global_run = True
            lines = []
            for raw in block:
                if not raw.startswith(" "):
                    global_run = False
                lines.append(raw[lead:] if global_run else raw)
            super().load("\n".join(lines))

    def ordered(self, parent: Node) -> list[Node]:
        return parent.children

    def entry(self, node: Node, depth: int) -> list[str]:
        text = self.shown(node)
        if text is None:
            return []
        text = re.sub(r"^(rule \d+ (permit|deny) source \S+) 0\.0\.0\.0$", r"\1 0", text)
        lines = [" " * depth + text]
        for child in node.children:
            lines += self.entry(child, depth + 1)
        return lines

    def body(self) -> list[str]:
        lines: list[str] = []
        previous_global = False
        for node in self.root.children:
            section = bool(node.children) or self.is_section(node.text)
            shown = self.entry(node, 0)
            if not shown:
                continue
            if section or not previous_global:
                lines.append("#")
            lines += shown if section else [self.GLOBAL_INDENT + line for line in shown]
            previous_global = not section
        return lines

    def show(self) -> str:
        return "\n".join([self.version, *self.body(), "#", "return"]) + "\n"


class VrpV8Device(VrpDevice):
    """VRP V8 prints global commands at the left margin and " #" between the views inside a view;
    lines typed in system view wait in a candidate until "commit" (applied here at once: the driver
    always commits what it sends)."""

    GLOBAL_INDENT = ""

    def entry(self, node: Node, depth: int) -> list[str]:
        lines = super().entry(node, depth)
        return [*lines, " #"] if lines and depth == 1 and node.children else lines

    def apply(self, lines: list[str]) -> None:
        super().apply([line for line in lines if line not in ("commit", "clear configuration candidate")])


# Junos: keywords whose value names a child container (printed "unit 0 {", not "unit { 0 {")
JUNOS_NAMED = frozenset({
    "unit", "family", "area", "interface", "filter", "term", "prefix-list", "route", "host", "server", "user",
    "file", "fpc", "pic", "port", "tacplus-server", "radius-server", "authentication-key", "community", "v3", "usm",
    "local-engine", "target-address", "notify", "md5", "hmac-sha-256", "security-zone", "zones", "policy",
    "from-zone", "to-zone", "address-book",
})
Tree = dict[str, "Tree"]
JUNOS_SECRETS = frozenset({"encrypted-password", "secret", "authentication-key", "key"})
# statements printed with their options on one line, marked SECRET-DATA when one is a key (DISA's
# Juniper router STIG, NTP authentication: "authentication-key 1 type md5 value "$8$..."; ## SECRET-DATA",
# "server x.x.x.x key 1 prefer; ## SECRET-DATA")
JUNOS_INLINE = frozenset({"authentication-key", "server"})


def _chain(tree: Tree) -> list[str] | None:
    """The words of a subtree that is one line of options (each level one word), else None."""
    words: list[str] = []
    while len(tree) == 1:
        word, tree = next(iter(tree.items()))
        words.append(word)
    return words if words and not tree else None


def _words(line: str) -> list[str]:
    """A set line's words, a quoted string and a "[ a b ]" list each as one word (as typed)."""
    lexer = shlex.shlex(line, posix=False)
    lexer.whitespace_split = True
    lexer.commenters = ""
    words: list[str] = []
    for word in lexer:
        if words and words[-1].startswith("[") and not words[-1].endswith("]"):
            words[-1] += f" {word}"
        else:
            words.append(word)
    return words


class JunosDevice:
    """A Junos router's configuration database (its statements as ``set`` paths) and its printer."""

    # statements that take one value: setting another replaces it
    SINGLE: ClassVar[frozenset[str]] = frozenset({
        "host-name", "domain-name", "description", "message", "encrypted-password", "secret", "router-id",
        "hello-interval", "dead-interval", "reference-bandwidth", "delay", "holddown", "rapid-runs", "interface-type",
        "speed", "default-metric", "uid", "class", "protocol-version", "root-login", "authentication-order",
    })

    def __init__(self, text: str) -> None:
        self.statements: list[list[str]] = []
        self.version = "21.4R3.15"
        self.load(text)

    def load(self, text: str) -> None:
        path: list[list[str]] = []
        for raw in text.splitlines():
            line = re.sub(r"\s*## SECRET-DATA$", "", raw.strip())
            if not line or line.startswith(("##", "/*")):
                continue
            if line.startswith("version "):
                self.version = line.removeprefix("version ").rstrip(";")
                continue
            if line == "}":
                path.pop()
            elif line.endswith("{"):
                path.append(_words(line[:-1].strip()))
            else:
                self.statements.append([word for part in path for word in part] + _words(line.rstrip(";")))

    def apply(self, lines: list[str]) -> None:
        for line in lines:
            words = _words(line)
            if not words:
                continue
            verb, rest = words[0], words[1:]
            if verb == "delete":
                self.statements = [s for s in self.statements if s[:len(rest)] != rest]
            elif verb == "set":
                if len(rest) >= 2 and rest[-2] in self.SINGLE:
                    self.statements = [s for s in self.statements if s[:len(rest) - 1] != rest[:-1]]
                if rest not in self.statements:
                    self.statements.append(rest)
            # "commit", "rollback", "top" and the like change nothing in this model

    def _tree(self) -> Tree:
        tree: Tree = {}
        for statement in self.statements:
            node = tree
            i = 0
            while i < len(statement):
                word = statement[i]
                if word in JUNOS_NAMED and i + 1 < len(statement):
                    word = f"{word} {statement[i + 1]}"
                    i += 1
                node = node.setdefault(word, {})
                i += 1
        return tree

    def _print(self, tree: Tree, depth: int) -> list[str]:
        pad = "    " * depth
        lines = []
        for word, sub in tree.items():
            options = _chain(sub) if word.split()[0] in JUNOS_INLINE and " " in word else None
            if not sub:
                lines.append(f"{pad}{word};")
            elif options and len(options) > 1:
                if "value" in options[:-1]:
                    at = options.index("value") + 1
                    if not options[at].strip('"').startswith("$"):
                        options[at] = f'"$9${fake_hash(options[at])}"'
                marked = "value" in options or "key" in options
                lines.append(f"{pad}{word} {' '.join(options)};" + (" ## SECRET-DATA" if marked else ""))
            elif len(sub) == 1 and not next(iter(sub.values())):
                value = next(iter(sub))
                keyword = word.split()[-1]
                if keyword in JUNOS_SECRETS:
                    if not value.strip('"').startswith("$"):
                        value = f'"$9${fake_hash(value)}"'
                    lines.append(f"{pad}{word} {value}; ## SECRET-DATA")
                else:
                    lines.append(f"{pad}{word} {value};")
            else:
                lines += [f"{pad}{word} {{", *self._print(sub, depth + 1), f"{pad}}}"]
        return lines

    def show(self) -> str:
        return "\n".join(["## Last commit: 2026-12-01 09:00:00 UTC by egov", f"version {self.version};",
                          *self._print(self._tree(), 0)]) + "\n"


DEVICES: dict[str, type[IosDevice] | type[JunosDevice]] = {
    "cisco_ios": IosDevice, "frr": FrrDevice, "huawei_vrp": VrpDevice, "huawei_vrpv8": VrpV8Device,
    "juniper_junos": JunosDevice,
}


def after_push(platform: str, printed: str, lines: list[str]) -> str:
    """What a device of ``platform`` that printed ``printed`` prints after it was sent ``lines``."""
    device = DEVICES[platform](printed)
    device.apply(lines)
    return device.show()
