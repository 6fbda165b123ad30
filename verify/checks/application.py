"""Application security checks (catalogue group ``application``): health direct, through the proxy and the
entry point, the backends, TLS, mail."""

from __future__ import annotations

import json
from typing import Any

from verify.checks.base import Node, Outcome, RunsCommands, check, output, probe, probe_many


def _health(answer: dict[str, Any]) -> str | None:
    """None when a /healthz answer is healthy, else why not."""
    if "error" in answer:
        return str(answer["error"])
    if answer.get("status") != 200:
        return f"HTTP {answer.get('status')}: {str(answer.get('body', ''))[:120]}"
    try:
        status = json.loads(answer.get("body", "")).get("status")
    except (ValueError, AttributeError):
        return "answer is not JSON"
    return None if status == "ok" else f"status {status!r}"


def _health_report(host: RunsCommands, labels: list[str], specs: list[dict[str, Any]], where: str) -> Outcome:
    failures: list[str] = []
    good: list[str] = []
    for label, answer in zip(labels, probe_many(host, specs), strict=True):
        problem = _health(answer)
        (failures if problem else good).append(f"{label} {problem}" if problem else label)
    if failures:
        return Outcome(False, f"{where}unhealthy: " + "; ".join(failures))
    return Outcome(True, f"{where}healthy: " + ", ".join(good))


@check("app_health_direct")
def app_health_direct(host: RunsCommands, node: Node) -> Outcome:
    if not node.apps:
        return Outcome(False, "no core application is placed on this node")
    apps = sorted(node.apps.items())
    return _health_report(host, [f"{app} :{port}" for app, port in apps],
                          [{"kind": "http", "port": port, "path": "/healthz"} for _app, port in apps], "")


def _https_spec(node: Node, via: str, path: str) -> dict[str, Any]:
    """A probe of ``path`` over TLS, on the node's own proxy (``web``) or the platform entry (``entry``)."""
    address, port = ("127.0.0.1", node.proxy_port) if via == "web" else (node.entry or ("127.0.0.1", 443))
    return {"kind": "http", "connect": address, "port": port, "path": path, "tls": True,
            "server_name": node.tls_name}


@check("app_health_proxy")
def app_health_proxy(host: RunsCommands, node: Node, via: str = "web") -> Outcome:
    """Every application's /healthz over TLS: through this node's nginx (``via: web``) or through
    the load balancer's virtual IP (``via: entry``), the path a citizen's request takes."""
    if not node.proxied:
        return Outcome(False, "the inventory places no core application behind the proxy")
    apps = sorted(node.proxied.items())
    specs = [_https_spec(node, via, prefix.rstrip("/") + "/healthz") for _app, prefix in apps]
    return _health_report(host, [f"{app} {spec['path']}" for (app, _p), spec in zip(apps, specs, strict=True)], specs,
                          f"via {specs[0]['connect']}:{specs[0]['port']}: ")


@check("app_backends_reachable")
def app_backends_reachable(host: RunsCommands, node: Node) -> Outcome:
    """From the proxy, every backend of every application answers /healthz: a backend the proxy
    cannot reach (a firewall drop) costs a connect timeout on the requests sent to it first."""
    pairs = [(app, backend) for app, backends in sorted(node.backends.items()) for backend in backends]
    if not pairs:
        return Outcome(False, "the inventory places no core application behind the proxy")
    specs = []
    for _app, backend in pairs:
        address, _, port = backend.rpartition(":")
        specs.append({"kind": "http", "connect": address, "port": int(port), "path": "/healthz"})
    return _health_report(host, [f"{app} {backend}" for app, backend in pairs], specs, "backends ")


def _portal_problem(host_name: str, name: str, page: dict[str, Any], plain: dict[str, Any]) -> str | None:
    """What is wrong with a component portal: its HTTPS answer ``page`` and its plain-HTTP one ``plain``."""
    if "error" in page:
        return str(page["error"])
    if page.get("status") != 200:
        return f"HTTP {page.get('status')}"
    if f"<h1>{name}</h1>" not in page.get("body", ""):
        return f"the page does not name {name!r}"
    if not str(page.get("hsts") or "").startswith("max-age="):
        return "no Strict-Transport-Security header"
    if plain.get("status") not in (301, 302, 307, 308) or plain.get("location") != f"https://{host_name}/":
        return f"http:// is not redirected to https://{host_name}/ ({plain.get('error') or plain.get('status')})"
    return None


@check("portals_answer")
def portals_answer(host: RunsCommands, node: Node) -> Outcome:
    """Every agency's component portal through the platform's entry point, as a browser asks for it: over
    HTTPS with its own name (SNI and Host, the chain verified against the trust store) its home page names
    its agency and sets HSTS; over plain HTTP it is redirected to HTTPS."""
    if not node.portals:
        return Outcome(True, "the inventory has no agency portal")
    address, port = node.entry or ("127.0.0.1", 443)
    specs: list[dict[str, Any]] = []
    for portal, _name in node.portals:
        specs.append({"kind": "http", "connect": address, "port": port, "path": "/", "tls": True,
                      "server_name": portal})
        specs.append({"kind": "http", "connect": address, "port": 80, "path": "/", "server_name": portal})
    answers = probe_many(host, specs)
    failures = []
    for k, (portal, name) in enumerate(node.portals):
        problem = _portal_problem(portal, name, answers[2 * k], answers[2 * k + 1])
        if problem:
            failures.append(f"{portal}: {problem}")
    if failures:
        return Outcome(False, f"via {address}:{port}: " + "; ".join(failures))
    return Outcome(True, f"via {address}:{port}: {len(node.portals)} portals answer with their agency's name")


@check("tls_valid")
def tls_valid(host: RunsCommands, node: Node, min_days: int = 14) -> Outcome:
    answer = probe(host, _https_spec(node, "web", "/healthz"))
    if "days_left" not in answer:
        return Outcome(False, f"TLS on :{node.proxy_port} does not verify: {answer.get('error', 'no certificate')}")
    if answer["days_left"] < min_days:
        return Outcome(False, f"certificate expires in {answer['days_left']} days (< {min_days})")
    name = node.tls_name or "(no name checked)"
    return Outcome(True, f"{name}: chain verified, {answer['days_left']} days left")


@check("mail_tls_only")
def mail_tls_only(host: RunsCommands, node: Node, min_days: int = 14) -> Outcome:
    """SMTP (25) offers STARTTLS; submission (587) offers it and no authentication before it,
    and authentication after it: a password never crosses the network in clear."""
    if not node.mail_name:
        return Outcome(False, "the inventory gives the mail host no name (province domain)")
    smtp, submission = probe_many(host, [{"kind": "smtp", "port": port, "server_name": node.mail_name}
                                          for port in (25, 587)])
    problems = [f":{port} {answer['error']}" for port, answer in ((25, smtp), (587, submission)) if "error" in answer]
    if problems:
        return Outcome(False, "; ".join(problems))
    if "STARTTLS" not in smtp.get("ehlo", []):
        problems.append(":25 offers no STARTTLS")
    if "STARTTLS" not in submission.get("ehlo", []):
        problems.append(":587 offers no STARTTLS")
    if any(k.startswith("AUTH") for k in submission.get("ehlo", [])):
        problems.append(":587 offers AUTH before TLS")
    if not any(k.startswith("AUTH") for k in submission.get("tls_ehlo", [])):
        problems.append(":587 offers no AUTH after STARTTLS")
    days = min(a.get("days_left", 0) for a in (smtp, submission))
    if days < min_days:
        problems.append(f"certificate expires in {days} days (< {min_days})")
    if problems:
        return Outcome(False, "; ".join(problems))
    return Outcome(True, f"{node.mail_name}: STARTTLS on :25 and :587, AUTH only after it; {days} days left")


@check("directory_in_step")
def directory_in_step(host: RunsCommands, node: Node) -> Outcome:
    """Every directory server answers over ldaps with the platform CA verified (the host's trust
    store), and all hold the same ``contextCSN`` on the base entry: replication is in step."""
    if not node.directories or not node.directory_base:
        return Outcome(False, "the inventory places no directory host")
    # ldapsearch verifies the server's certificate against /etc/ldap/ldap.conf's TLS_CACERT (the trust store)
    command = ("for a in " + " ".join(["%s"] * len(node.directories)) + "; do echo \"== $a\"; "
               "ldapsearch -x -LLL -o ldif-wrap=no -o nettimeout=3 -H \"ldaps://$a:" + str(node.directory_port)
               + "\" -s base -b %s contextCSN 2>&1; done")
    result = host.run(command, *node.directories, node.directory_base)
    answers: dict[str, list[str]] = {}
    errors: dict[str, str] = {}
    current = ""
    for line in output(result).splitlines():
        if line.startswith("== "):
            current = line[3:]
            answers[current] = []
        elif line.startswith("contextCSN: "):
            answers.setdefault(current, []).append(line.split(": ", 1)[1])
        elif line.startswith("ldap_") and current:
            errors.setdefault(current, line.strip())
    problems = [f"{a}: {errors.get(a, 'no answer')}" for a in node.directories if not answers.get(a)]
    if problems:
        return Outcome(False, "; ".join(problems))
    states = {a: sorted(answers[a]) for a in node.directories}
    first = node.directories[0]
    behind = [a for a in node.directories if states[a] != states[first]]
    if behind:
        return Outcome(False, f"replication not in step: {first} has {', '.join(states[first])}; "
                              + "; ".join(f"{a} has {', '.join(states[a])}" for a in behind))
    return Outcome(True, f"{len(node.directories)} directory servers answer over ldaps, in step "
                         f"({', '.join(states[first])})")
