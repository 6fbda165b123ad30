"""A corpus of hostile inputs through the real CLI entry point, each in a process of its own.

Every input is refused with exit 2 and exactly one line on stderr (``FILE:LINE: field: problem`` for a
problem inside a file, one clear line naming the path otherwise), no traceback, in under 2 s and under
300 MB. Each case runs ``cli.run`` (the ``egov`` entry point) in a forked child, so the interpreter's
start-up is paid once and the child's CPU time and peak memory (above the pages it inherits) are its own
(``os.wait4``); an address-space
limit in the child turns a blow-up into a failure instead of a machine out of memory. A few cases run
``python cli.py`` as a real subprocess too.

The corpus is built here, from the small valid inventory and by class: oversized and non-regular files,
alias bombs, deep nesting, tags, duplicate keys after resolution, bytes that are not text, name templates,
variables of the wrong type or range, reserved supernets, subnets outside their pool, ambiguous names,
hostile secrets and exporter config files, unwritable output paths and bad usage.
"""

from __future__ import annotations

import logging
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

import cli
from egov.secrets import MAX_BYTES as SECRETS_MAX_BYTES
from inventory import load_inventory
from monitoring.exporter.__main__ import main as exporter_main

ROOT = Path(__file__).resolve().parents[2]
SMALL = ROOT / "tests" / "fixtures" / "inventory" / "small.yml"
TEXT = SMALL.read_text(encoding="utf-8")
PRODUCTION = ROOT / "inventory" / "quangninh.yml"
MAX_SECONDS = 2.0
MAX_MB = 300
HANG_SECONDS = 10.0          # a child still running then is killed and reported as a hang
ADDRESS_SPACE_MB = 1024      # on top of what the child inherits
FILE_LINE = re.compile(r"^error: (?P<file>/[^:]+):(?P<line>[0-9]+): ")


def variant(old: str, new: str) -> str:
    assert TEXT.count(old) == 1, old
    return TEXT.replace(old, new)


def with_defaults(lines: str) -> str:
    """The small inventory with ``lines`` added to the province-wide defaults."""
    return variant("defaults:\n  network__ospf_hello: 2\n", f"defaults:\n  network__ospf_hello: 2\n{lines}\n")


def laughs(levels: int, fan: int) -> str:
    rows = [f'a0: &a0 [{", ".join(["lol"] * fan)}]']
    rows += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * fan)}]" for n in range(1, levels)]
    return "\n".join(rows) + "\n"


# --- the corpus: (id, how to make the input in a folder, argv, the line expected or None) ---------------
Make = Callable[[Path], Path]


def text_file(content: str | bytes, mode: int = 0o600, name: str = "input.yml") -> Make:
    def make(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        path.chmod(mode)
        return path
    return make


def fifo(mode: int = 0o600) -> Make:
    def make(folder: Path) -> Path:
        path = folder / "pipe.yml"
        os.mkfifo(path, mode)
        return path
    return make


def directory(mode: int = 0o700) -> Make:
    def make(folder: Path) -> Path:
        path = folder / "dir.yml"
        path.mkdir(mode=mode)
        return path
    return make


def existing(path: str) -> Make:
    return lambda folder: Path(path)


def sparse(size: int) -> Make:
    def make(folder: Path) -> Path:
        path = folder / "huge.yml"
        with path.open("wb") as f:
            f.truncate(size)
        path.chmod(0o600)
        return path
    return make


def symlink_to_fifo(folder: Path) -> Path:
    os.mkfifo(folder / "real-pipe")
    (folder / "link.yml").symlink_to(folder / "real-pipe")
    return folder / "link.yml"


@dataclass(frozen=True)
class Case:
    id: str
    make: Make
    argv: Callable[[Path], list[str]]
    line: int | None = None          # the FILE:LINE line expected, where the case knows it
    entry: str = "egov"              # or "exporter": python -m monitoring.exporter --check
    names_path: bool = True          # the line names the file or folder the case made


def validate(path: Path) -> list[str]:
    return ["inventory", "validate", str(path)]


def secrets(path: Path) -> list[str]:
    # a production inventory (no lab to be up) and a --limit nothing matches: a secrets file that were
    # accepted by mistake ends in a --limit error naming no secrets file, never in a connection
    return ["net", "diff", "-i", str(PRODUCTION), "--secrets", str(path), "--limit", "no-such-router"]


def exporter(path: Path) -> list[str]:
    return ["--check", "--config", str(path)]


def inventory_cases() -> Iterator[Case]:
    def case(id: str, content: str | bytes, line: int | None = None) -> Case:
        return Case(id, text_file(content), validate, line)

    # files that are not inputs
    yield Case("fifo", fifo(), validate)
    yield Case("symlink to a fifo", symlink_to_fifo, validate)
    yield Case("directory", directory(), validate)
    yield Case("/dev/zero", existing("/dev/zero"), validate)
    yield Case("/dev/urandom", existing("/dev/urandom"), validate)
    yield Case("/dev/null", existing("/dev/null"), validate)
    yield Case("missing", lambda folder: folder / "none.yml", validate)
    yield Case("50 MB", sparse(50 * 1024 * 1024), validate)
    yield Case("just over the limit", text_file("#" * (1024 * 1024) + "\n"), validate)
    yield Case("a directory in /proc", existing("/proc/self/fd"), validate)
    # a large file with one error: parsed once (the error path used to parse it again, at 60 s for 50 MB)
    packages = "\n".join(f"    - pkg{i}" for i in range(70_000))
    big = with_defaults(f"  base__packages:\n{packages}").replace("    parent: tien-yen", "    parent: nowhere")
    yield case("large file with one error", big, next(i for i, x in enumerate(big.splitlines(), 1) if "nowhere" in x))
    # alias bombs
    for levels, fan in ((9, 9), (6, 10), (12, 4), (30, 2), (4, 200)):
        yield case(f"billion laughs {levels}x{fan}", laughs(levels, fan))
    yield case("alias to itself", "a: &a [*a]\n", 1)
    yield case("alias never anchored", "a: *nowhere\n", 1)
    yield case("merge-key bomb", laughs(3, 9).replace("[*a1", "{<<: *a1").replace("*a1]", "*a1}") + "b: [" +
               ", ".join(["*a2"] * 200) + "]\n")
    # nesting
    for depth in (65, 100, 1000, 100_000):
        yield case(f"flow lists {depth} deep", "a: " + "[" * depth + "]" * depth + "\n", 1)
    for depth in (100, 10_000):
        yield case(f"flow maps {depth} deep", "a: " + "{a: " * depth + "1" + "}" * depth + "\n", 1)
    yield case("block lists 200 deep", "".join(" " * i + "-\n" for i in range(200)), 65)
    yield case("block maps 100 deep", "".join(" " * i + "k:\n" for i in range(100)), 65)
    yield case("compact lists 100 deep", "a:\n" + "- " * 100 + "x\n", 2)
    yield case("deep nesting inside the inventory", with_defaults("  base__sysctl: " + "{a: " * 70 + "1" + "}" * 70),
               34)
    # tags
    for tag in ("!!binary aGVsbG8=", "!!python/object:os.system x", "!!python/name:os.system ''",
                "!!python/object/apply:os.system [ls]", "!!set {a, b}", "!!omap [a: 1]", "!!timestamp 2001-01-01",
                "!custom x", "!<tag:example.com,2000:app/foo> x", "!!int abc", "!!float x", "!!bool maybe",
                "!!map x", "!!seq x", "!!str [a]", "!!null [a]"):
        yield case(f"tag {tag.split()[0]}", with_defaults(f"  base__login_banner: {tag}"), 34)
    # duplicate keys after resolution
    for a, b in (("1", "0x1"), ("1", "0o1"), ("10", "1_0"), ("x", '"x"'), ("true", "True"), ("1", "1.0"),
                 ("null", "~"), ("0b11", "3")):
        yield case(f"keys {a} and {b}", f"environment: lab\n{a}: one\n{b}: two\n", 3)
    yield case("duplicate key inside the inventory", variant("    index: 104", "    index: 104\n    index: 105"), 72)
    # bytes that are not text
    yield case("NUL byte", TEXT.replace("domain: quangninh.gov.vn", "domain: quangninh\x00.gov.vn"), 8)
    yield case("NUL at the start", "\x00" + TEXT, 1)
    yield case("bell character", with_defaults("  base__login_banner: a\x07b"), 34)
    yield case("escape character", with_defaults("  base__login_banner: \x1b[31mred"), 34)
    yield case("latin-1 bytes", TEXT.encode("utf-8").replace("Đông".encode(), "Dông".encode("latin-1")), 68)
    yield case("UTF-16", TEXT.encode("utf-16"), None)
    yield case("binary", bytes(range(256)) * 4, 2)  # byte 128 is on line 2 (byte 10 ends line 1)
    # not one YAML document
    yield case("two documents", TEXT + "---\nenvironment: lab\n", TEXT.count("\n") + 1)
    yield case("syntax error", variant("    title: Xã Đông Ngũ", "    title: Xã Đông Ngũ: x"), 68)
    yield case("tab indentation", TEXT.replace("  name: Quảng Ninh", "\tname: Quảng Ninh"), 6)
    yield case("unclosed flow", variant("uplinks: [ty-r1]}", "uplinks: [ty-r1}"), 74)
    yield case("a list at the top", "- environment: lab\n", 1)
    yield case("a number as long as the file", "environment: " + "9" * 100_000 + "\n", 1)
    # interface-name templates: plain {name} fields of the documented set, nothing else
    for template in ("{port:>300000000}", "{port.foo}", "{port.__class__}", "{0}", "{}", "wan{", "wan}", "{port!r}",
                     "{port[0]}", "{purpose}", "{port:d}", "{port:,}", "{port:.5}", "{port:{port}}", "{n}", "wan",
                     "{{port}}"):
        yield case(f"WAN template {template}", with_defaults(f'  network__interface_names: {{frr: "{template}"}}'), 34)
    for template in ("{n:>99999999}", "{purpose.x}", "{port}", "{purpose!s}"):
        yield case(f"LAN template {template}",
                   with_defaults(f'  network__lan_interface_names: {{frr: "{template}"}}'), 34)
    yield case("template set on a router", variant(
        "      - {name: ty-dong-ngu-r1, slot: 0, uplinks: [ty-r1]}",
        "      - {name: ty-dong-ngu-r1, slot: 0, uplinks: [ty-r1],"
        ' vars: {network__interface_names: {frr: "{port:>9}"}}}'),
        74)
    # variables of the wrong type or range
    for line in ("base__ssh_allow_from: []", "base__ssh_allow_from: [10.0.0.0/33]", "base__ssh_allow_from: 0.0.0.0",
                 "lb__vrid: 300", "lb__vrid: -1", "host__cpu: '4'", "host__cpu: true", "host__memory_gb: 1e9",
                 "base__admin_users: [{name: Bad Name}]", "base__admin_users: []", "dns__forwarders: [dns.google]",
                 "base__firewall_open: ['tcp/22; drop']", "base__firewall_open: ['x } table ip evil {']",
                 'base__login_banner: "a\\nb"', "log__retention_days: 0", "backup__on_calendar: \"daily\\nx\"",
                 "apps__listen: everywhere", "lb__vip: 10.0.0.300", "base__journal_max_use: lots",
                 "base__packages: ['rm -rf']", "base__sysctl: {'net.ipv4.ip_forward': '1; reboot'}",
                 "base__timezon: UTC", "mirror__upstream_proxy: ftp://x", "district_node__cache_mb: 1"):
        yield case(f"variable {line}", with_defaults(f"  {line}"), 34)
    # the plan
    for supernet in ("0.0.0.0/0", "224.0.0.0/4", "127.0.0.0/8", "240.0.0.0/4", "169.254.0.0/16", "0.0.0.0/8"):
        yield case(f"supernet {supernet}", variant("  supernet: 10.99.0.0/16", f"  supernet: {supernet}"), 11)
    server_pool = load_inventory(SMALL).plan.pools["server"]
    foreign = list(server_pool.subnets(new_prefix=26))[-1]  # the server pool's last /26: no site has it
    yield case("subnet in another pool", variant("    parent: tien-yen\n    routers:",
                                                 f"    parent: tien-yen\n    subnets: {{user: {foreign}}}\n"
                                                 "    routers:"), 73)
    yield case("subnet outside the supernet", variant("    parent: tien-yen\n    routers:",
                                                      "    parent: tien-yen\n    subnets: {user: 10.98.0.0/26}\n"
                                                      "    routers:"), 73)
    # one meaning per name
    yield case("host named like a role", variant("{name: ty-node1, slot: 0", "{name: dns, slot: 0"), 63)
    yield case("host named like a site", variant("{name: ty-node1, slot: 0", "{name: dc, slot: 0"), 63)
    yield case("host named like a level", variant("{name: ty-node1, slot: 0", "{name: district, slot: 0"), 63)
    yield case("site named like a role", variant("  - name: ty-dong-ngu\n", "  - name: backup\n"), 67)


def secrets_cases() -> Iterator[Case]:
    yield Case("secrets: fifo", fifo(), secrets)
    yield Case("secrets: directory", directory(), secrets)
    yield Case("secrets: /dev/zero", existing("/dev/zero"), secrets)
    yield Case("secrets: missing", lambda folder: folder / "none.yml", secrets)
    yield Case("secrets: readable by others", text_file("router_password: hunter2hunter2\n", mode=0o644), secrets)
    yield Case("secrets: binary", text_file(bytes(range(256)) * 8), secrets, 2)
    yield Case("secrets: NUL", text_file("router_password: a\x00b\n"), secrets, 1)
    yield Case("secrets: alias bomb", text_file(laughs(9, 9)), secrets)
    yield Case("secrets: deep", text_file("a: " + "[" * 20_000 + "]" * 20_000), secrets, 1)
    yield Case("secrets: python tag", text_file("router_password: !!python/object:os.system x\n"), secrets, 1)
    yield Case("secrets: a list", text_file("- a\n- b\n"), secrets, 1)
    yield Case("secrets: a nested value", text_file("router_password: {a: b}\n"), secrets, 1)
    yield Case("secrets: too large", text_file("router_password: " + "x" * SECRETS_MAX_BYTES + "\n"), secrets)
    yield Case("secrets: no router password", text_file("other: abcdefgh\n"), secrets)
    yield Case("secrets: duplicate", text_file("router_password: aaaa\nrouter_password: bbbb\n"), secrets, 2)


def exporter_cases() -> Iterator[Case]:
    for id, content, line in (("binary", bytes(range(256)) * 8, 2), ("alias bomb", laughs(9, 9), None),
                              ("deep", "apps: " + "[" * 100_000, 1), ("tag", "listen: !!binary aGVsbG8=\n", 1),
                              ("NUL", "listen: \x00\n", 1)):
        yield Case(f"exporter config: {id}", text_file(content), exporter, line, entry="exporter")
    yield Case("exporter config: fifo", fifo(), exporter, entry="exporter")
    yield Case("exporter config: directory", directory(), exporter, entry="exporter")


def catalogue_cases() -> Iterator[Case]:
    def verify(path: Path) -> list[str]:
        return ["verify", "-i", str(SMALL), "--catalogue", str(path)]

    yield Case("catalogue: fifo", fifo(), verify)
    yield Case("catalogue: /dev/zero", existing("/dev/zero"), verify)
    yield Case("catalogue: alias bomb", text_file(laughs(9, 9)), verify, 5)
    yield Case("catalogue: deep", text_file("a: " + "[" * 100_000 + "]" * 100_000), verify, 1)
    yield Case("catalogue: binary", text_file(bytes(range(256)) * 8), verify, 2)


def output_cases() -> Iterator[Case]:
    def afile(folder: Path) -> Path:
        (folder / "afile").write_text("x")
        return folder / "afile"

    small = ["-i", str(SMALL)]
    yield Case("net render --out a file", afile, lambda p: ["net", "render", *small, "--out", str(p)])
    yield Case("net render --out under a file", afile, lambda p: ["net", "render", *small, "--out", f"{p}/x"])
    yield Case("inventory graph -o a directory", lambda f: f, lambda p: ["inventory", "graph", *small, "-o", str(p)])
    yield Case("inventory graph -o under a file", afile,
               lambda p: ["inventory", "graph", *small, "-o", f"{p}/x.svg"])
    yield Case("monitor config --out a file", afile, lambda p: ["monitor", "config", *small, "--out", str(p)])
    yield Case("monitor drift --out a directory", lambda f: f,
               lambda p: ["monitor", "drift", *small, "--out", str(p)])
    yield Case("verify --junit a directory", lambda f: f, lambda p: ["verify", *small, "--junit", str(p)])
    yield Case("verify --report under a file", afile, lambda p: ["verify", *small, "--report", f"{p}/r.html"])
    yield Case("net backup --backup-dir a file", afile,
               lambda p: ["net", "backup", *small, "--backup-dir", str(p)])
    # usage
    yield Case("unknown command", lambda f: f, lambda p: ["no-such-command"], names_path=False)
    yield Case("unknown option", lambda f: f, lambda p: ["inventory", "validate", "--no-such-option"],
               names_path=False)
    yield Case("workers out of range", lambda f: f, lambda p: ["net", "diff", *small, "--workers", "0"],
               names_path=False)


CORPUS = [*inventory_cases(), *secrets_cases(), *exporter_cases(), *catalogue_cases(), *output_cases()]
assert len({c.id for c in CORPUS}) == len(CORPUS), "case ids are unique"


# --- running one case ------------------------------------------------------------------------------------


@dataclass
class Outcome:
    code: int | None      # None: killed by a signal (a crash) or as a hang
    out: str
    err: str
    seconds: float        # wall clock
    max_rss_mb: float     # a forked child: its peak above the resident pages it inherited
    killed: str = ""
    cpu_seconds: float = 0.0


def _status_kb(field: str) -> int:
    """A field of /proc/self/status in KiB (VmSize: the address space, VmRSS: resident memory)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


def _child(entry: Callable[[list[str]], object], argv: list[str], out_fd: int, err_fd: int) -> None:
    """In the forked child: the CLI with its own stdout/stderr and an address-space ceiling; never returns."""
    code = 70
    try:
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # the child's own streams
        sys.stderr = open(2, "w", encoding="utf-8", closefd=False)
        logging.root.handlers.clear()  # as in a fresh process (pytest's handlers would swallow the log)
        for key in [k for k in os.environ if k.startswith("EGOV_SECRET")]:
            del os.environ[key]
        limit = (_status_kb("VmSize") + ADDRESS_SPACE_MB * 1024) * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        result = entry(argv)
        code = result if isinstance(result, int) else 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - the test reads what escaped from stderr
        import traceback

        traceback.print_exc()
        code = 99
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def run_forked(case: Case, path: Path) -> Outcome:
    """Run ``case`` on ``path`` (made by ``case.make``) in a forked child."""
    entry: Callable[[list[str]], object] = exporter_main if case.entry == "exporter" else cli.run
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        # the child starts with the test process's pages resident: its own peak is what it adds to them
        inherited_kb = _status_kb("VmRSS")
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:
            _child(entry, case.argv(path), out.fileno(), err.fileno())
        return _reap(pid, start, out, err, inherited_kb)


def _reap(pid: int, start: float, out: IO[bytes], err: IO[bytes], inherited_kb: int = 0) -> Outcome:
    """Wait for child ``pid`` (killed after HANG_SECONDS) and read its outcome: os.wait4 gives this child's
    own CPU time and peak memory."""
    killed = ""
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() - start > HANG_SECONDS:
            os.kill(pid, signal.SIGKILL)
            done, status, usage = os.wait4(pid, 0)
            killed = "hang"
            break
        time.sleep(0.002)
    seconds = time.monotonic() - start
    out.seek(0)
    err.seek(0)
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        killed = killed or f"signal {-code}"
    return Outcome(None if killed else code, out.read().decode("utf-8", "replace"),
                   err.read().decode("utf-8", "replace"), seconds, (usage.ru_maxrss - inherited_kb) / 1024, killed,
                   usage.ru_utime + usage.ru_stime)


def check(case: Case, path: Path, outcome: Outcome) -> None:
    shown = (f"{case.id}: exit {outcome.code} {outcome.killed}\nstdout: {outcome.out[:500]}\n"
             f"stderr: {outcome.err[:2000]}")
    assert outcome.code == 2, shown
    assert "Traceback" not in outcome.out + outcome.err, shown
    lines = [line for line in outcome.err.splitlines() if line.strip()]
    assert len(lines) == 1, shown
    assert outcome.out == "", shown
    line = lines[0]
    if case.names_path:
        assert str(path) in line, f"the line does not name {path}: {shown}"
    if case.line is not None:
        m = FILE_LINE.match(line) or re.search(r"(?P<file>/[^:\s]+):(?P<line>[0-9]+): ", line)
        assert m is not None and int(m.group("line")) == case.line, f"expected line {case.line}: {shown}"
    # CPU time: the machine is shared, so the wall clock measures the neighbours too (a hang is caught by
    # HANG_SECONDS, a real subprocess by its wall clock)
    spent = outcome.cpu_seconds or outcome.seconds
    assert spent < MAX_SECONDS, f"{spent:.2f} s: {shown}"
    assert outcome.max_rss_mb < MAX_MB, f"{outcome.max_rss_mb:.0f} MB: {shown}"


FIGURES: dict[str, tuple[float, float]] = {}


@pytest.mark.parametrize("case", CORPUS, ids=[c.id for c in CORPUS])
def test_hostile_input_is_one_clear_line(case: Case, tmp_path: Path) -> None:
    path = case.make(tmp_path)
    outcome = run_forked(case, path)
    FIGURES[case.id] = (outcome.cpu_seconds, outcome.max_rss_mb)
    check(case, path, outcome)


def test_the_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 100, len(CORPUS)


SUBPROCESS = ["fifo", "billion laughs 9x9", "flow lists 100000 deep", "tag !!python/object:os.system",
              "WAN template {port:>300000000}", "secrets: directory", "net render --out a file"]


@pytest.mark.parametrize("case_id", SUBPROCESS)
def test_the_installed_entry_point_refuses_them_too(case_id: str, tmp_path: Path) -> None:
    """``python cli.py``, a process of its own from the interpreter's start: the same one line and exit 2."""
    case = next(c for c in CORPUS if c.id == case_id)
    path = case.make(tmp_path)
    argv = case.argv(path)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (4 * ADDRESS_SPACE_MB * 1024 * 1024,) * 2)

    env = {k: v for k, v in os.environ.items() if not k.startswith("EGOV_SECRET")}
    env["PYTHONPATH"] = str(ROOT)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        proc = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), *argv], stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL, env=env, preexec_fn=limit, cwd=ROOT)
        outcome = _reap(proc.pid, start, out, err)
        proc.returncode = outcome.code  # reaped here, with its resource usage
    check(case, path, outcome)


def test_a_large_file_full_of_problems_is_reported_at_once_and_quickly(tmp_path: Path) -> None:
    """6,000 sites sharing five indexes (about 560 KB, 18,000 problems): every one reported as FILE:LINE."""
    sites = "".join(f"  - name: s{i}\n    level: commune\n    kind: commune_point\n    index: {i % 5}\n"
                    "    parent: tien-yen\n" for i in range(6000))
    path = text_file(TEXT + sites)(tmp_path)
    outcome = run_forked(Case("many problems", lambda f: path, validate), path)
    lines = outcome.err.splitlines()
    assert outcome.code == 2 and len(lines) > 6000, outcome.err[-500:]
    assert all(line.startswith(f"error: {path}:") or line.startswith(f"{path}:") for line in lines), lines[:3]
    print(f"\n6,000 broken sites: {len(lines)} problems, {outcome.cpu_seconds:.2f} s CPU, {outcome.max_rss_mb:.0f} MB")
    assert outcome.cpu_seconds < MAX_SECONDS and outcome.max_rss_mb < MAX_MB, outcome


def test_markup_in_data_is_printed_literally(tmp_path: Path) -> None:
    """A site title that is Rich markup (``[/bold]`` used to crash ``inventory show``) is shown as written."""
    path = tmp_path / "markup.yml"
    path.write_text(variant("title: Huyện Tiên Yên", 'title: "[/bold] [red]x[/red]"'), encoding="utf-8")
    case = Case("markup", lambda f: path, lambda p: ["inventory", "show", "-i", str(p)])
    outcome = run_forked(case, path)
    assert outcome.code == 0, outcome
    assert "[/bold] [red]x[/red]" in outcome.out and "Traceback" not in outcome.err


def teardown_module() -> None:
    if FIGURES:
        worst_time = max(FIGURES.items(), key=lambda item: item[1][0])
        worst_rss = max(FIGURES.items(), key=lambda item: item[1][1])
        print(f"\nhostile corpus: {len(FIGURES)} cases; slowest {worst_time[1][0]:.2f} s CPU ({worst_time[0]}); "
              f"largest {worst_rss[1][1]:.0f} MB ({worst_rss[0]})")

