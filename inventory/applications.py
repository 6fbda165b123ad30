"""The table of the core shared applications: one place for their ports, proxy paths and databases.

Plain data with no pyinfra import, so the services table (``inventory.services``, whence the
firewall), the web and db roles, ``egov verify`` and the monitoring generator all read it cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class App:
    """One core application.

    + name: short name: system user, group, database, database role, directory
    + title: what the province calls it
    + port: where it listens (one port per app, so apps can share a host)
    + path: its location on the reverse proxy (``https://<portal>/<path>``)
    """

    name: str
    title: str
    port: int
    path: str

    @property
    def unit(self) -> str:
        return f"egov-{self.name}"

    @property
    def secret(self) -> str:
        return f"db_{self.name}_password"


APPS: dict[str, App] = {
    "app_docmgmt": App("docmgmt", "Document management (Quản lý văn bản và điều hành)", 8101, "/docmgmt/"),
    "app_onestop": App("onestop", "One-stop-shop system (Hệ thống thông tin một cửa điện tử)", 8102, "/onestop/"),
    "app_portal": App("portal", "Online public-service portal (Cổng dịch vụ công)", 8103, "/portal/"),
    "app_specdb": App("specdb", "Specialised databases (Cơ sở dữ liệu chuyên ngành)", 8104, "/specdb/"),
}
