"""The toolkit's alert receiver: a record of every page Alertmanager sent, and the dead man's switch.

It runs on each top-level monitoring host as ``egov-alert-receiver.service``; ``deploys/monitoring.py``
ships this one file, which needs nothing but the standard library (the host's python3). Its
configuration (JSON) is generated with Alertmanager's (``monitoring.alertmanager.receiver_config``).

- ``POST /<receiver>``: an Alertmanager webhook payload is appended, with the time it arrived and
  the receiver named by the path, as one JSON line to ``<state_dir>/notifications.jsonl``. A
  payload that holds a firing Watchdog also refreshes ``<state_dir>/watchdog.json``.
- ``GET /watchdog``: the dead man's switch, ``{"last_seen", "age_seconds", "silent"}``: HTTP 200
  while the Watchdog keeps arriving, 503 once it has not for ``silent_after`` seconds.
- A thread looks every few seconds. When the Watchdog falls silent (Prometheus, Alertmanager or the
  path between them is broken) it logs an error, records an event line and e-mails the NOC
  straight through the mail host: not through Alertmanager, which is what may be broken. It says
  so once more when the Watchdog comes back.

Run: ``python3 receiver.py CONFIG``.
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
import sys
import threading
import time
from collections.abc import Callable
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

LOG = logging.getLogger("egov-alert-receiver")
MAX_BODY = 1 << 20  # Alertmanager's payloads are a few kB; anything this big is not one
ROTATE_AT = 10 << 20  # the record is rotated once to .1 past this size, so it never fills the disk
CHECK_EVERY = 2.0


class _SMTP(smtplib.SMTP):
    """SMTP to an address whose certificate names ``server_name``: smtplib's STARTTLS checks the
    certificate against the host it connected to (``_host``), which here is an address."""

    def __init__(self, server_name: str, timeout: float) -> None:
        self._server_name = server_name
        super().__init__(timeout=timeout)

    def connect(self, host: str = "localhost", port: int = 0, source_address: Any = None) -> tuple[int, bytes]:
        reply = super().connect(host, port, source_address)
        self._host = self._server_name
        return reply


def send_mail(mail: dict[str, Any], subject: str, body: str) -> None:
    """One message to ``mail["to"]`` through ``mail["host"]:mail["port"]``, STARTTLS required and
    the certificate verified against ``mail["server_name"]`` with the CAs of ``mail["ca_file"]``."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = mail["from"], ", ".join(mail["to"]), subject
    msg.set_content(body)
    context = ssl.create_default_context(cafile=mail["ca_file"])
    with _SMTP(mail["server_name"], timeout=10) as smtp:
        smtp.connect(mail["host"], int(mail["port"]))
        smtp.starttls(context=context)
        smtp.send_message(msg)


class Receiver:
    """The receiver's state: where it writes, the Watchdog's last arrival, whether it is silent.

    + config: the parsed configuration (``state_dir``; ``allow_post_from``: the addresses that may
      POST; ``watchdog``: ``alertname``, ``silent_after``; ``mail``: where the dead man's switch
      writes, or null)
    + mailer: sends one message (``send_mail``; a test passes its own)
    + clock: the time now (``time.time``)
    """

    def __init__(self, config: dict[str, Any], mailer: Callable[[dict[str, Any], str, str], None] = send_mail,
                 clock: Callable[[], float] = time.time) -> None:
        self.dir = Path(config["state_dir"])
        self.alertname = str(config["watchdog"]["alertname"])
        self.silent_after = float(config["watchdog"]["silent_after"])
        self.mail: dict[str, Any] | None = config.get("mail")
        self.allow_post_from = set(config["allow_post_from"])
        self.mailer, self.clock = mailer, clock
        self.lock = threading.Lock()
        self.started = clock()
        state = self._read(self.dir / "watchdog.json")
        self.last_seen: float | None = state.get("last_seen")
        self.silent: bool = bool(state.get("silent", False))

    @staticmethod
    def _read(path: Path) -> dict[str, Any]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _append(self, record: dict[str, Any]) -> None:
        path = self.dir / "notifications.jsonl"
        with self.lock:
            if path.exists() and path.stat().st_size > ROTATE_AT:
                path.replace(path.with_suffix(".jsonl.1"))
            with path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")

    def _save(self) -> None:
        tmp = self.dir / "watchdog.json.tmp"
        tmp.write_text(json.dumps({"last_seen": self.last_seen, "silent": self.silent}), encoding="utf-8")
        tmp.replace(self.dir / "watchdog.json")

    def record(self, receiver: str, payload: dict[str, Any]) -> None:
        """Keep one notification; a firing Watchdog in it refreshes the dead man's switch."""
        now = self.clock()
        self._append({"received": now, "receiver": receiver, "payload": payload})
        alerts = payload.get("alerts")
        if not isinstance(alerts, list):
            alerts = []
        if any(isinstance(a, dict) and a.get("status") == "firing"
               and (a.get("labels") or {}).get("alertname") == self.alertname for a in alerts):
            with self.lock:
                self.last_seen = now
                self._save()

    def watchdog(self) -> dict[str, Any]:
        """The switch's state now."""
        now = self.clock()
        since = self.last_seen if self.last_seen is not None else self.started
        return {"last_seen": self.last_seen, "age_seconds": round(now - since, 1),
                "silent": now - since > self.silent_after, "silent_after": self.silent_after}

    def check(self) -> None:
        """Tell the NOC when the Watchdog falls silent, and when it is back (once each)."""
        state = self.watchdog()
        if state["silent"] == self.silent:
            return
        with self.lock:
            self.silent = state["silent"]
            self._save()
        if self.silent:
            subject = f"[DEAD MAN'S SWITCH] no {self.alertname} for {state['age_seconds']:.0f}s: alerting is broken"
            body = (f"The {self.alertname} alert, which Prometheus always fires and Alertmanager sends here, has not "
                    f"arrived for {state['age_seconds']:.0f} seconds. Until it is back, no page reaches anyone. "
                    "Check prometheus-alertmanager and prometheus on the monitoring hosts "
                    "(docs/monitoring.md#deadmansswitch).")
            LOG.error(subject)
        else:
            subject = f"[DEAD MAN'S SWITCH] {self.alertname} is back: alerting works again"
            body = f"The {self.alertname} alert arrives again; pages are delivered."
            LOG.warning(subject)
        self._append({"received": self.clock(), "receiver": "deadmansswitch",
                      "event": "silent" if self.silent else "back", "subject": subject})
        if self.mail:
            try:
                self.mailer(self.mail, subject, body)
            except (OSError, smtplib.SMTPException, ssl.SSLError) as exc:
                LOG.error("dead man's switch: mail to %s failed: %s", ", ".join(self.mail["to"]), exc)


def handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    """The HTTP handler class bound to ``receiver``."""

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.rstrip("/") != "/watchdog":
                self._reply(404, {"error": "GET /watchdog; POST /<receiver>"})
                return
            state = receiver.watchdog()
            self._reply(503 if state["silent"] else 200, state)

        def do_POST(self) -> None:
            if self.client_address[0] not in receiver.allow_post_from:
                self._reply(403, {"error": f"{self.client_address[0]} may not post here"})
                return
            name = self.path.strip("/").split("?")[0]
            length = int(self.headers.get("Content-Length") or 0)
            if not name or "/" in name or not 0 < length <= MAX_BODY:
                self._reply(400, {"error": "POST /<receiver> with a JSON body under 1 MiB"})
                return
            try:
                payload = json.loads(self.rfile.read(length))
            except ValueError:
                self._reply(400, {"error": "not JSON"})
                return
            if not isinstance(payload, dict):
                self._reply(400, {"error": "not an Alertmanager payload (a JSON object)"})
                return
            receiver.record(name, payload)
            self._reply(200, {"recorded": name})

        def log_message(self, format: str, *args: Any) -> None:
            LOG.debug(format, *args)

    return Handler


def serve(config: dict[str, Any]) -> None:
    """Listen on ``config["listen"]`` (``host:port``) until stopped; the switch checked meanwhile."""
    receiver = Receiver(config)
    host, _, port = str(config["listen"]).rpartition(":")
    server = ThreadingHTTPServer((host, int(port)), handler(receiver))

    def watch() -> None:
        while True:
            receiver.check()
            time.sleep(CHECK_EVERY)

    threading.Thread(target=watch, daemon=True).start()
    LOG.info("listening on %s, Watchdog silent after %.0fs", config["listen"], receiver.silent_after)
    server.serve_forever()


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    if len(argv) != 1:
        print("usage: receiver.py CONFIG.json", file=sys.stderr)
        return 2
    try:
        config = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"{argv[0]}: {exc}", file=sys.stderr)
        return 2
    serve(config)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
