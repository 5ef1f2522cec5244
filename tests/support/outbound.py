"""Real servers on loopback for what the app sends out: an SMTP server (aiosmtpd) that keeps
every email, and HTTP receivers for webhooks that answer as each test tells them to."""

import email
import email.policy
import http.server
import re
import threading
import time
from urllib.parse import urlsplit

from aiosmtpd.controller import Controller

from tests.support.servers import free_port


class SMTPInbox:
    """An SMTP server on 127.0.0.1 collecting the emails it receives (`messages`); `options` go
    to aiosmtpd (TLS, STARTTLS, authentication)."""

    def __init__(self, **options):
        self.messages = []
        self._controller = Controller(self, hostname="127.0.0.1", port=free_port(), **options)

    @property
    def port(self):
        return self._controller.port

    @property
    def url(self):
        return f"smtp://127.0.0.1:{self.port}"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.original_content or envelope.content,
                                                      policy=email.policy.default))
        return "250 OK"

    def start(self):
        self._controller.start()
        return self

    def stop(self):
        self._controller.stop()


def link_path(message, prefix):
    """The path of the link in an email's plain text whose path starts with `prefix` (whatever
    host PUBLIC_URL names), and checks the HTML part carries the same link."""
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    url = next(u for u in re.findall(r"https?://\S+", text) if urlsplit(u).path.startswith(prefix))
    assert f'href="{url}"' in html, url
    return urlsplit(url).path


class Receiver:
    """An HTTP server on 127.0.0.1 recording each request (`requests`: dicts with path, headers
    and body) and answering with `respond(number)` -> status, for the n-th request from 1."""

    def __init__(self, respond=lambda number: 200, tls=None):
        self.requests = []
        self.respond = respond
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                with receiver.lock:
                    receiver.requests.append({"path": self.path, "headers": dict(self.headers),
                                              "body": body})
                    number = len(receiver.requests)
                status = receiver.respond(number)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                if 300 <= status < 400:
                    self.send_header("Location", receiver.redirect_to)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.redirect_to = "/"
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/elako"
        if tls:  # an ssl.SSLContext: HTTPS, at https://localhost:<port>/…
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
            self.url = f"https://localhost:{self.server.server_address[1]}/hooks/elako"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count, timeout=10):
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            assert time.monotonic() < deadline, f"got {len(self.requests)} of {count} requests"
            time.sleep(0.02)
        return self.requests

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def self_signed_certificate(directory):
    """(certificate path, key path) for 127.0.0.1 and localhost, valid for a day."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path
