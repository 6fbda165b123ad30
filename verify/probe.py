"""A self-contained probe that runs on the node with its own ``python3`` (stdlib only).

Checks that need a client on the node (HTTP on loopback, TLS through the proxy, a DNS question to
the local resolver) send this script with a JSON list of specs as its one argument; it runs them
at once (one timeout bounds the whole probe) and prints a JSON list of answers in the same order.
Running it on the node tests what the node itself serves, whatever the firewall lets the control
machine reach.

A spec: ``{"kind": "http", "connect": "127.0.0.1", "port": 8101, "path": "/healthz", "tls": false,
"server_name": null}``, ``{"kind": "smtp", "port": 587, "server_name": "mail.example.vn"}`` or
``{"kind": "dns", "server": "127.0.0.1", "name": "..."}`` (with ``"tls": true, "port": 853,
"server_name": "..."``: DNS over TLS, RFC 7858, the server's certificate checked for that name).
An answer: ``{"status": 200, "hsts": "max-age=...", "location": null, "body": "...", "days_left": 364.2}``,
``{"ehlo": ["STARTTLS", ...], "tls_ehlo": ["AUTH PLAIN LOGIN", ...], "days_left": 364.2}``
(``tls_ehlo``: after STARTTLS),
``{"rcode": 0, "answers": 1, "id_ok": true}`` or ``{"error": "..."}``.
"""

SCRIPT = r'''
import http.client, json, random, socket, ssl, struct, sys, time
from concurrent.futures import ThreadPoolExecutor


def probe(spec):
    out = {}
    try:
        if spec["kind"] == "http":
            sock = socket.create_connection((spec.get("connect", "127.0.0.1"), spec["port"]), timeout=5)
            name = spec.get("server_name") or spec.get("connect", "127.0.0.1")
            conn = http.client.HTTPConnection(name, spec["port"], timeout=5)
            if spec.get("tls"):
                tls = CONTEXTS[bool(spec.get("server_name"))]
                sock = tls.wrap_socket(sock, server_hostname=spec.get("server_name"))
                cert = sock.getpeercert()
                out["days_left"] = round((ssl.cert_time_to_seconds(cert["notAfter"]) - time.time()) / 86400, 1)
            conn.sock = sock
            conn.request("GET", spec["path"], headers={"Host": name})
            response = conn.getresponse()
            out["status"] = response.status
            out["hsts"] = response.getheader("Strict-Transport-Security")
            out["location"] = response.getheader("Location")
            out["body"] = response.read(4096).decode("utf-8", "replace")
        elif spec["kind"] == "smtp":
            sock = socket.create_connection((spec.get("connect", "127.0.0.1"), spec["port"]), timeout=5)
            reader = sock.makefile("rb")
            smtp_reply(reader)  # the banner
            out["ehlo"] = smtp_ehlo(sock, reader)
            if "STARTTLS" in out["ehlo"]:
                sock.sendall(b"STARTTLS\r\n")
                smtp_reply(reader)
                tls = CONTEXTS[bool(spec.get("server_name"))]
                sock = tls.wrap_socket(sock, server_hostname=spec.get("server_name"))
                cert = sock.getpeercert()
                out["days_left"] = round((ssl.cert_time_to_seconds(cert["notAfter"]) - time.time()) / 86400, 1)
                out["tls_ehlo"] = smtp_ehlo(sock, sock.makefile("rb"))
            sock.sendall(b"QUIT\r\n")
            sock.close()
        elif spec["kind"] == "dns":
            qid = random.randrange(65536)
            qname = b"".join(bytes([len(p)]) + p.encode() for p in spec["name"].rstrip(".").split(".")) + b"\0"
            query = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + qname + struct.pack(">HH", 1, 1)
            if spec.get("tls"):
                sock = socket.create_connection((spec["server"], spec.get("port", 853)), timeout=5)
                sock = CONTEXTS[True].wrap_socket(sock, server_hostname=spec["server_name"])
                sock.sendall(struct.pack(">H", len(query)) + query)  # a 2-byte length, as over TCP
                reply = recv_exactly(sock, struct.unpack(">H", recv_exactly(sock, 2))[0])
                sock.close()
            else:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.settimeout(3)
                s.sendto(query, (spec.get("server", "127.0.0.1"), 53))
                reply = s.recv(4096)
            rid, flags, _, answers = struct.unpack(">HHHH", reply[:8])
            out = {"rcode": flags & 0xF, "answers": answers, "id_ok": rid == qid}
    except Exception as exc:
        out["error"] = "%s: %s" % (type(exc).__name__, exc)
    return out


def recv_exactly(sock, size):
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("connection closed mid-reply")
        data += chunk
    return data


def smtp_reply(reader):
    """The lines of one SMTP reply, without their code ("250-STARTTLS" ... "250 SMTPUTF8")."""
    lines = []
    while True:
        line = reader.readline().decode("ascii", "replace").rstrip("\r\n")
        if not line:
            raise ConnectionError("connection closed mid-reply")
        lines.append(line[4:])
        if line[3:4] != "-":
            return lines


def smtp_ehlo(sock, reader):
    """What the server offers after EHLO: the keywords and their arguments, upper-cased."""
    sock.sendall(b"EHLO egov-verify\r\n")
    return [line.upper() for line in smtp_reply(reader)[1:]]


def context(check_hostname):
    ctx = ssl.create_default_context()  # the node's trust store
    ctx.check_hostname = check_hostname
    return ctx


specs = json.loads(sys.argv[1])
# Loading the trust store costs more than a handshake: one context per kind, shared by the threads.
CONTEXTS = {check: context(check) for check in {bool(s.get("server_name")) for s in specs
                                                  if s.get("tls") or s["kind"] == "smtp"}}
with ThreadPoolExecutor(max_workers=max(1, len(specs))) as pool:
    print(json.dumps(list(pool.map(probe, specs))))
'''
