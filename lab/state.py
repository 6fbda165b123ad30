"""The lab's state directory: SSH key pair, known_hosts, secrets and state.json (0700, outside the repo)."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

import yaml

from egov.connection import Connection
from lab.engine import run


def ensure_state_dir(path: Path) -> bool:
    """Create the state directory (0700). True when it was created."""
    created = not path.exists()
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return created


def _write_private(path: Path, text: str) -> None:
    """Write a file readable by its owner only, never briefly readable by others."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    path.chmod(0o600)


def ensure_key(conn: Connection) -> bool:
    """The lab's SSH key pair (ed25519, private key 0600). True when generated."""
    if conn.key_path.is_file() and conn.key_path.with_suffix(".pub").is_file():
        conn.key_path.chmod(0o600)
        return False
    conn.key_path.unlink(missing_ok=True)
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"egov-lab@{conn.key_path.parent.name}",
         "-f", str(conn.key_path)])
    conn.key_path.chmod(0o600)
    return True


def public_key(conn: Connection) -> str:
    return conn.key_path.with_suffix(".pub").read_text(encoding="utf-8").strip()


def ensure_router_password(conn: Connection) -> tuple[str, bool]:
    """The lab's router_password, generated once into secrets.yml (0600). (value, generated)."""
    assert conn.secrets_file is not None
    path = conn.secrets_file
    data: dict[str, Any] = {}
    if path.is_file():
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if isinstance(data.get("router_password"), str) and len(data["router_password"]) >= 12:
            path.chmod(0o600)
            return data["router_password"], False
    data["router_password"] = secrets.token_urlsafe(18)
    _write_private(path, yaml.safe_dump(data, default_flow_style=False))
    return data["router_password"], True


def ensure_secrets(conn: Connection, names: list[str]) -> list[str]:
    """The lab's own value of each secret in ``names`` (e.g. the routers' OSPF keys), generated once into
    secrets.yml (0600); the names generated now. 16 characters: the longest key OSPF MD5 takes."""
    assert conn.secrets_file is not None
    path = conn.secrets_file
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8")) or {} if path.is_file() else {}
    missing = [name for name in names if not isinstance(data.get(name), str)]
    for name in missing:
        data[name] = secrets.token_hex(8)
    if missing:
        _write_private(path, yaml.safe_dump(data, default_flow_style=False))
    return missing


def write_known_hosts(conn: Connection, entries: list[tuple[str, str]]) -> bool:
    """Record every node's host keys: ``<address> <type> <key>`` lines. True when the file changed."""
    text = "".join(f"{address} {key}\n" for address, key in entries)
    if conn.known_hosts.is_file() and conn.known_hosts.read_text(encoding="utf-8") == text:
        return False
    _write_private(conn.known_hosts, text)
    return True


def write_state(path: Path, data: dict[str, Any]) -> None:
    _write_private(path / "state.json", json.dumps(data, indent=2, default=str) + "\n")


def read_state(path: Path) -> dict[str, Any]:
    """state.json as the last ``lab up`` wrote it; empty when there is none yet."""
    try:
        data = json.loads((path / "state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
