"""``web``: nginx, the TLS reverse proxy in front of the core applications.

It listens on ``WEB_PORT`` (``inventory/services.py``; the load balancer passes HTTPS through to
it) and proxies each application's path (``inventory.applications.APPS``) to the hosts that run
it. The certificate comes from ``web__cert_file``/``web__key_file`` (production) or the lab's CA
(``deploys/pki.py``), with every name it serves.

The main portal (the province's domain and the service names) and every agency's component
portal (``inventory.agencies``, one virtual host per agency at its ``portal`` name) are server
blocks of one file: an agency's home page carries its name, and the applications' paths are the
same on every portal. Adding an agency changes that file and the certificate's names, nothing else.
"""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import apt, files, server, systemd

from deploys import render
from deploys.context import deploy_context
from deploys.ops.config import checked_file
from deploys.pki import certificate, install
from inventory.services import SERVICE_NAMES, WEB_PORT, vip

PACKAGES = ["nginx"]


def server_names() -> list[str]:
    domain = deploy_context().inventory.province.domain
    return [domain, *(f"{n}.{domain}" for n in SERVICE_NAMES)]


def nginx() -> None:
    """nginx from Debian's package, TLS 1.2+ only, without the package's default site (also the
    monitoring role's, for the on-call page)."""
    apt.packages(name="nginx", packages=PACKAGES)
    # Debian's nginx.conf still offers TLS 1.0 and 1.1 to every server without its own setting
    protocols = files.line(name="nginx: TLS 1.2 and 1.3 only", path="/etc/nginx/nginx.conf",
                           line=r"^\s*ssl_protocols .*", replace="ssl_protocols TLSv1.2 TLSv1.3;")
    server.shell(name="nginx: reload for TLS 1.2+", commands=["nginx -t -q && systemctl reload-or-restart nginx"],
                 _if=protocols.did_change)
    # nginx's package enables a default site on port 80, which the load balancer owns
    files.link(name="nginx: no default site", path="/etc/nginx/sites-enabled/default", present=False)


def portals() -> list[dict[str, str]]:
    """Every agency's component portal: its host name, its agency's name and code."""
    return [{"host": a.portal, "name": a.name, "code": a.code} for a in deploy_context().inventory.agencies.values()]


@deploy("Web")
def apply() -> None:
    from deploys.apps import upstreams

    names = server_names()
    agencies = portals()
    address = vip(deploy_context().inventory)
    issued = certificate("web", names + [p["host"] for p in agencies] + ([address] if address else []), prefix="web")
    nginx()
    cert, key = install(issued, "web")
    apps = [{"name": app.name, "title": app.title, "path": app.path, "backends": backends}
            for app, backends in upstreams()]
    checked_file(name="nginx: TLS reverse proxy", path="/etc/nginx/sites-enabled/egov.conf",
                 content=render("web", "site.conf.j2", apps=apps, port=WEB_PORT, server_names=names,
                                portals=agencies, cert=cert, key=key),
                 check="nginx -t -q", reload="systemctl reload-or-restart nginx")
    systemd.service(name="nginx running", service="nginx", running=True, enabled=True)
