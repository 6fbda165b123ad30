"""The network variables' schema: every ``network__*`` variable's type and constraints, checked where
it is written (``egov inventory validate`` names the file, line and key) and, for what depends on the
router (its platform's ranges, its model), once per router on the value it ends up with.

Why a schema here and not in the templates: a variable reaches the configuration verbatim, so a
banner holding a newline or a quote would inject whole lines (``username evil privilege 15 secret x``
into IOS, ``services { telnet; }`` into Junos). Text variables are one line of printable characters
without any platform's quoting or delimiter characters; numbers are in every platform's documented
range, or in the router's platform's range where only one platform is strict.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from ipaddress import IPv4Address, IPv4Network
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

PREFIX = "network__"

# One line of printable text. Refused: control characters and newlines (a second line would be read
# as a command), `"` and `\` (Junos and VRP quote the text), `^` (the IOS banner delimiter, see
# templates/network/cisco_ios/base.j2), `;{}#!` (Junos statement and VRP/IOS comment syntax).
TEXT_PATTERN = r'^[^\x00-\x1f\x7f"\\^;{}#!]*$'
Text = Annotated[str, Field(min_length=1, max_length=200, pattern=TEXT_PATTERN)]
# A name a device takes as a word: user names, VRFs, interface names, secret names.
Word = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_./:-]{0,63}$")]
SecretName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,40}(\{syntax\})?[a-z0-9_]{0,20}$")]
Role = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
Seconds = Annotated[int, Field(strict=True, ge=1, le=65535)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NameTemplates(Strict):
    """A name template per platform (every platform named)."""

    frr: str
    cisco_ios: str
    huawei_vrp: str
    huawei_vrpv8: str
    juniper_junos: str


class Mgmt(Strict):
    interface: Word
    vrf: Word | None


class MgmtPerPlatform(Strict):
    frr: Mgmt
    cisco_ios: Mgmt
    huawei_vrp: Mgmt
    huawei_vrpv8: Mgmt
    juniper_junos: Mgmt


def _regexes(patterns: list[str]) -> list[str]:
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"{pattern!r} is not a regular expression: {exc}") from None
    return patterns


Regexes = Annotated[list[str], AfterValidator(_regexes)]


class ScopeRules(Strict):
    """What the toolkit owns of one configuration language (network/drivers/scope.py reads it)."""

    owned: Regexes
    owned_when_rendered: Regexes
    ignored: Regexes
    # lines the device never prints (IOS's snmp-server user): sent only where its own report lacks them
    write_only: Regexes = []


class Scope(Strict):
    frr: ScopeRules
    cisco_ios: ScopeRules
    huawei_vrp: ScopeRules      # VRP V8 speaks VRP's configuration language
    juniper_junos: ScopeRules


class RouterModel(Strict):
    """A hardware model's ports (inventory/defaults/network.yml, network__models)."""

    platform: Literal["frr", "cisco_ios", "huawei_vrp", "huawei_vrpv8", "juniper_junos"]
    mgmt: Mgmt
    wan_ports: list[Word] | None      # None: as many as it is given (generic names)
    lan_ports: list[Word] | None
    trunk: Word | None
    flow_security: bool = False        # an SRX: flow mode, so security zones are rendered


class StaticRoute(Strict):
    prefix: IPv4Network
    next_hop: IPv4Address | Literal["blackhole"]


class OspfKey(Strict):
    id: Annotated[int, Field(strict=True, ge=1, le=255)]   # the key id every platform takes (1-255)
    secret: SecretName


class CredentialNames(Strict):
    """The names, in the secrets store, of each secret the configurations hold."""

    breakglass: SecretName
    enable: SecretName
    tacacs: SecretName
    snmp_auth: SecretName
    snmp_priv: SecretName
    ntp: SecretName


class Snmp(Strict):
    user: Word
    group: Word


class LoginBlock(Strict):
    attempts: Annotated[int, Field(strict=True, ge=1, le=10)]
    within: Annotated[int, Field(strict=True, ge=1, le=3600)]      # seconds
    block_for: Annotated[int, Field(strict=True, ge=60, le=3600)]   # seconds (Junos counts minutes: >= 1)


def amount(value: Any, minimum: int) -> int | str:
    """A count (a whole number >= ``minimum``) or a percentage ``"N%"`` (``minimum``..100), as Ansible's
    serial and max_fail_percentage take them; anything else is a ValueError saying what is wanted."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= minimum:
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{1,3}%", value) and minimum <= int(value[:-1]) <= 100:
        return f"{int(value[:-1])}%"
    raise ValueError(f"must be a whole number >= {minimum} or a percentage {minimum}%..100% (e.g. 5 or \"20%\")")


class Rollout(Strict):
    """How a push stages its routers (network/rollout.py): Ansible's serial and max_fail_percentage."""

    batch: Annotated[Annotated[int, Field(strict=True)] | str, AfterValidator(lambda value: amount(value, 1))]
    max_fail: Annotated[Annotated[int, Field(strict=True)] | str, AfterValidator(lambda value: amount(value, 0))]
    canary: Annotated[bool, Field(strict=True)]


# every network variable: its type (a missing entry is an unknown variable)
TYPES: dict[str, Any] = {
    "interface_names": NameTemplates,
    "lan_interface_names": NameTemplates,
    "mgmt_interfaces": MgmtPerPlatform,
    "models": dict[Annotated[str, Field(min_length=1, max_length=64)], RouterModel],
    "mgmt_gateway": IPv4Address | None,
    "ospf_area": Annotated[int, Field(strict=True, ge=1, le=2**32 - 1)] | None,
    "ospf_hello": Annotated[int, Field(strict=True, ge=1, le=255)],        # Junos 1-255, the strictest
    "ospf_dead": Annotated[int, Field(strict=True, ge=1, le=65535)],
    "ospf_spf_throttle": list[Annotated[int, Field(strict=True, ge=0, le=600000)]],
    "ospf_reference_bandwidth": Annotated[int, Field(strict=True, ge=1, le=4294967)],   # IOS: 1-4294967 Mbit/s
    "ospf_auth_keys": Annotated[list[OspfKey], Field(min_length=1, max_length=2)],
    "ospf_stub_default_metric": Annotated[int, Field(strict=True, ge=1, le=16777214)],  # IOS default-cost range
    "static_routes": list[StaticRoute],
    "banner": Text,
    "aaa_role": Role,
    "ntp_role": Role,
    "log_role": Role,
    "syslog_transport": Literal["tls", "udp"],
    # the device's PKI object holding its certificate and the platform CA (IOS trustpoint, Junos
    # local certificate and CA profile, VRP SSL policy): letters, digits, - and _, 1-23 long (VRP's limit)
    "syslog_pki": Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,22}$")],
    "snmp_role": Role,
    "snmp": Snmp,
    "breakglass_user": Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")],
    "credential_names": CredentialNames,
    "exec_timeout": Annotated[int, Field(strict=True, ge=1, le=35791)],   # minutes (IOS exec-timeout's range)
    "ssh_timeout": Annotated[int, Field(strict=True, ge=1, le=120)],      # seconds (IOS ip ssh time-out)
    "ssh_retries": Annotated[int, Field(strict=True, ge=1, le=5)],       # IOS authentication-retries 0-5
    "login_block": LoginBlock,
    "scope": Scope,
    "full_replace": Annotated[bool, Field(strict=True)],
    "rollout": Rollout,
}
ADAPTERS = {key: TypeAdapter(kind) for key, kind in TYPES.items()}
# mappings the layers merge key by key (a site overrides one platform's name, one model's trunk, one secret name)
MERGED = frozenset(key for key, kind in TYPES.items()
                   if (isinstance(kind, type) and issubclass(kind, BaseModel)) or key == "models")

# ranges only one platform is strict about, checked on a router of that platform (documented ranges:
# Junos spf-options delay 50-8000 ms and holddown 2000-20000 ms; VRP intelligent-timer start/hold 1-60000,
# max 1-120000 ms; IOS and FRR timers throttle spf 0-600000 ms)
SPF_RANGES: dict[str, tuple[tuple[int, int], tuple[int, int], tuple[int, int]]] = {
    "frr": ((0, 600000), (0, 600000), (0, 600000)),
    "cisco_ios": ((0, 600000), (1, 600000), (1, 600000)),
    "huawei_vrp": ((1, 60000), (1, 60000), (1, 120000)),
    "huawei_vrpv8": ((1, 60000), (1, 60000), (1, 120000)),
    "juniper_junos": ((50, 8000), (0, 600000), (2000, 20000)),
}

Finding = tuple[tuple[str | int, ...], str]   # (path below the variable, what is wrong)


def _messages(exc: ValidationError) -> list[Finding]:
    found: list[Finding] = []
    for error in exc.errors():
        loc = tuple(part for part in error["loc"] if part != "[key]")
        # pydantic names the union member it tried (e.g. 'int'); the path below the variable is what a user wrote
        loc = tuple(part for part in loc if not (isinstance(part, str) and part in {"int", "none", "str"}))
        value = error.get("input")
        shown = f" (got {value!r})" if isinstance(value, (str, int, float, bool)) or value is None else ""
        message = error["msg"]
        if error["type"] == "string_pattern_mismatch" and TEXT_PATTERN in message:
            message = ('must be one line of printable text without " \\ ^ ; { } # ! '
                       "(they would end the text and start a command on some platform)")
        found.append((loc, f"{message}{shown}"))
    return found


def _merged(base: Any, value: Any) -> Any:
    """``value`` over ``base`` as the layers merge them: mappings key by key, anything else replaced."""
    if isinstance(base, Mapping) and isinstance(value, Mapping):
        return {**base, **{k: _merged(base.get(k), v) for k, v in value.items()}}
    return value


def value_problems(key: str, value: Any, base: Any = None) -> list[Finding]:
    """What is wrong with one layer's value of ``key`` (a ``network__`` name), merged over ``base`` (the
    value below it) where the layers merge mappings; [] when it is right."""
    name = key[len(PREFIX):]
    adapter = ADAPTERS.get(name)
    if adapter is None:
        return [((), f"unknown network variable (known: {', '.join(PREFIX + k for k in TYPES)})")]
    if name in MERGED and not isinstance(value, Mapping):
        return [((), f"must be a mapping, not {value!r}")]
    try:
        adapter.validate_python(_merged(base, value))
    except ValidationError as exc:
        return _messages(exc)
    return []


def layer_problems(values: Mapping[str, Any], below: Mapping[str, Any]) -> list[tuple[str, tuple[str | int, ...], str]]:
    """Every problem of the network variables one layer writes over ``below`` (the values under it):
    (key, path below the key, what is wrong)."""
    return [(key, loc, message) for key, value in values.items() if str(key).startswith(PREFIX)
            for loc, message in value_problems(str(key), value, below.get(str(key)))]


def router_model(values: Mapping[str, Any]) -> RouterModel | None:
    """The hardware model a router's variables name, if it is in network__models and well formed."""
    name = values.get("router__model") or ""
    models = values.get(PREFIX + "models")
    entry = models.get(name) if name and isinstance(models, Mapping) else None
    try:
        return RouterModel.model_validate(entry) if entry is not None else None
    except ValidationError:
        return None   # reported where the entry is written


def ospf_secret_names(routers: Iterable[Mapping[str, Any]]) -> list[str]:
    """The secrets holding the OSPF keys of routers with these variables (the lab generates its own)."""
    return sorted({str(key["secret"]) for values in routers for key in values.get(PREFIX + "ospf_auth_keys") or []
                   if isinstance(key, Mapping) and "secret" in key})


def router_problems(platform: str, values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What is wrong with a router's merged network variables for its platform: (key, problem)."""
    found: list[tuple[str, str]] = []
    hello, dead = values.get(PREFIX + "ospf_hello"), values.get(PREFIX + "ospf_dead")
    if isinstance(hello, int) and isinstance(dead, int) and dead <= hello:
        found.append((PREFIX + "ospf_dead", f"{dead} must exceed network__ospf_hello ({hello})"))
    spf = values.get(PREFIX + "ospf_spf_throttle")
    if isinstance(spf, list) and all(isinstance(v, int) for v in spf):
        if len(spf) != 3:
            found.append((PREFIX + "ospf_spf_throttle", f"needs [delay, hold, max] in milliseconds, not {spf!r}"))
        else:
            for what, value, (low, high) in zip(("delay", "hold", "max"), spf, SPF_RANGES[platform], strict=True):
                if not low <= value <= high:
                    found.append((PREFIX + "ospf_spf_throttle",
                                  f"{what} {value} ms is outside {platform}'s range {low}-{high} ms"))
    block = values.get(PREFIX + "login_block")
    if platform in ("huawei_vrp", "huawei_vrpv8") and isinstance(block, Mapping) and all(
            isinstance(block.get(k), int) for k in ("attempts", "within", "block_for")):
        # VRP local-aaa-user wrong-password: retry-time 3-65535, retry-interval and block-time 5-65535 minutes
        if block["attempts"] < 3 or -(-block["within"] // 60) < 5 or -(-block["block_for"] // 60) < 5:
            found.append((PREFIX + "login_block", f"{dict(block)} is outside {platform}'s range: at least 3 "
                          "attempts, within and block_for at least 300 s (it counts minutes, from 5)"))
    keys = values.get(PREFIX + "ospf_auth_keys")
    if isinstance(keys, list) and len({k.get("id") for k in keys if isinstance(k, dict)}) < len(keys):
        found.append((PREFIX + "ospf_auth_keys", "the active and the next key need different ids"))
    name = values.get("router__model") or ""
    models = values.get(PREFIX + "models") or {}
    if name and isinstance(models, Mapping) and name not in models:
        found.append(("router__model", f"model {name!r} is not in network__models (known: {', '.join(models)})"))
    elif name and isinstance(models, Mapping):
        try:
            RouterModel.model_validate(models[name])
        except ValidationError as exc:
            found.extend((".".join(map(str, (f"{PREFIX}models", name, *loc))), msg) for loc, msg in _messages(exc))
    model = router_model(values)
    if model is not None and model.platform != platform:
        found.append(("router__model", f"model {name!r} is a {model.platform} router, not {platform}"))
    return found
