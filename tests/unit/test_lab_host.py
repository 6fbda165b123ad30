"""The lab's machine-side pieces: the mirror apt uses, image tags, the proxy, the state directory."""

from __future__ import annotations

import stat
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from egov.connection import connection_for
from egov.errors import LabError
from lab import images, state
from lab.proxy import Proxy, _listening


def test_mirror_from_deb822_sources_ignores_comments(tmp_path: Path) -> None:
    d = tmp_path / "sources.list.d"
    d.mkdir()
    (d / "debian.sources").write_text(
        "Types: deb\n# http://snapshot.debian.org/archive/debian/20250520T000000Z\n"
        "URIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\nComponents: main\n")
    (d / "other.sources").write_text("Types: deb\nURIs: https://deb.nodesource.com/node_20.x\nSuites: nodistro\n")
    assert images.debian_mirror((tmp_path / "sources.list", d)) == "http://mirror.example/debian"


def test_mirror_from_one_line_sources(tmp_path: Path) -> None:
    f = tmp_path / "sources.list"
    f.write_text("deb [arch=amd64] http://ftp.vn.debian.org/debian bookworm main\n")
    assert images.debian_mirror((f,)) == "http://ftp.vn.debian.org/debian"


def test_no_mirror_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="no Debian bookworm mirror"):
        images.debian_mirror((tmp_path / "missing.list",))


def test_image_tags_carry_the_recipe_hash(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    tags = images.image_tags("http://m/debian")
    assert set(tags) == {"rootfs", "base", "router"}
    assert tags == images.image_tags("http://m/debian")
    assert all(tag.startswith(f"egov-lab-{name}:") for name, tag in tags.items())
    # a change in the router's recipe rebuilds the router only
    recipes = tmp_path / "images"
    for name in ("base", "router"):
        (recipes / name).mkdir(parents=True)
        for f in (images.RECIPES / name).iterdir():
            (recipes / name / f.name).write_bytes(f.read_bytes())
    monkeypatch.setattr(images, "RECIPES", recipes)
    assert images.image_tags("http://m/debian") == tags
    (recipes / "router" / "Dockerfile").write_text((recipes / "router" / "Dockerfile").read_text() + "# x\n")
    changed = images.image_tags("http://m/debian")
    assert changed["base"] == tags["base"] and changed["router"] != tags["router"]


def test_proxy_config_binds_the_lab_address_with_the_machines_mirror(tmp_path: Path) -> None:
    proxy = Proxy(tmp_path, IPv4Address("10.22.159.254"))
    files = proxy.config("http://deb.debian.org/debian")
    assert "BindAddress: 10.22.159.254" in files["acng.conf"] and "Port: 3142" in files["acng.conf"]
    assert f"CacheDir: {tmp_path / 'cache'}" in files["acng.conf"]
    assert files["backends_debian"] == "http://deb.debian.org/debian/\n"
    assert files["backends_debian_security"] == "http://deb.debian.org/debian-security/\n"
    assert proxy.url == "http://10.22.159.254:3142"


def test_listening_needs_the_lab_address_not_a_wildcard(tmp_path: Path) -> None:
    table = tmp_path / "tcp"
    header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    wildcard = "   0: 00000000:0C46 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1\n"
    table.write_text(header + wildcard)
    proxy = Proxy(tmp_path, IPv4Address("10.22.159.254"))
    assert not _listening(proxy, table)
    # 10.22.159.254 in /proc/net/tcp's little-endian hex is FE9F160A; 3142 is 0C46
    table.write_text(header + wildcard + "   1: FE9F160A:0C46 00000000:0000 0A 0 0 0 0 0 0 2\n")
    assert _listening(proxy, table)


def test_state_dir_key_and_secrets_are_private_and_made_once(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EGOV_LAB_DIR", str(tmp_path))
    monkeypatch.delenv("EGOV_LAB_NAME", raising=False)
    conn = connection_for("inventory/lab.yml", "lab")
    assert state.ensure_state_dir(conn.key_path.parent)
    assert stat.S_IMODE(conn.key_path.parent.stat().st_mode) == 0o700
    assert state.ensure_key(conn) and not state.ensure_key(conn)
    assert stat.S_IMODE(conn.key_path.stat().st_mode) == 0o600
    assert state.public_key(conn).startswith("ssh-ed25519 ")
    password, made = state.ensure_router_password(conn)
    assert made and len(password) >= 12
    assert state.ensure_router_password(conn) == (password, False)
    assert conn.secrets_file is not None and stat.S_IMODE(conn.secrets_file.stat().st_mode) == 0o600


def test_known_hosts_is_rewritten_only_when_keys_change(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EGOV_LAB_DIR", str(tmp_path))
    conn = connection_for("inventory/lab.yml", "lab")
    state.ensure_state_dir(conn.key_path.parent)
    entries = [("10.0.0.1", "ssh-ed25519 AAAA1"), ("10.0.0.2", "ssh-ed25519 AAAA2")]
    assert state.write_known_hosts(conn, entries)
    assert not state.write_known_hosts(conn, entries)
    assert conn.known_hosts.read_text() == "10.0.0.1 ssh-ed25519 AAAA1\n10.0.0.2 ssh-ed25519 AAAA2\n"
    assert stat.S_IMODE(conn.known_hosts.stat().st_mode) == 0o600
    assert state.write_known_hosts(conn, entries[:1])


def test_host_limits_are_raised_never_lowered(tmp_path: Path) -> None:
    from lab.engine import HOST_LIMITS, ensure_host_limits

    (tmp_path / "fs" / "inotify").mkdir(parents=True)
    low, high = "fs/inotify/max_user_instances", "fs/inotify/max_user_watches"
    (tmp_path / low).write_text("128\n")
    (tmp_path / high).write_text(f"{HOST_LIMITS[high] * 2}\n")
    assert ensure_host_limits(tmp_path) == [f"fs.inotify.max_user_instances raised to {HOST_LIMITS[low]}"]
    assert int((tmp_path / low).read_text()) == HOST_LIMITS[low]
    assert int((tmp_path / high).read_text()) == HOST_LIMITS[high] * 2
    assert ensure_host_limits(tmp_path) == []
