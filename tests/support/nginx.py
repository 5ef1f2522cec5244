"""Debian's nginx, run as the test user, serving deploy/nginx.conf in front of a LiveServer.

The production file is used as it is: only the lines it marks EDIT (and its listen ports) are
replaced, each of which must be found, so a test cannot pass against a config that drifted away
from what it checks. TLS uses a self-signed certificate for 127.0.0.1.
"""

import os
import pwd
import signal
import subprocess
from pathlib import Path

from tests.support.deploy import DEPLOY
from tests.support.outbound import self_signed_certificate
from tests.support.servers import free_port, wait_for_port

NGINX = "/usr/sbin/nginx"
BROTLI_STATIC = "/usr/lib/nginx/modules/ngx_http_brotli_static_module.so"

MAIN_CONF = """\
{user}
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
load_module {brotli};
events {{ worker_connections 512; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    include {dir}/elako.conf;
}}
"""


def replace_each(text, replacements):
    for old, new in replacements.items():
        assert old in text, f"deploy/nginx.conf no longer contains {old!r}"
        text = text.replace(old, new)
    return text


class NginxFront:
    """deploy/nginx.conf on free ports (HTTPS + HTTP/2 at `url`, the redirecting HTTP server at
    `http_url`), proxying to `upstream_port`, serving static files exported to `static_dir`."""

    def __init__(self, folder, upstream_port, static_dir):
        self.dir = Path(folder)
        self.port, self.http_port = free_port(), free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.http_url = f"http://127.0.0.1:{self.http_port}"
        self.upstream_port, self.static_dir = upstream_port, static_dir
        self.process = None

    def write_config(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        self.cert, key = self_signed_certificate(self.dir)
        site = replace_each((DEPLOY / "nginx.conf").read_text(), {
            "server 127.0.0.1:8000;": f"server 127.0.0.1:{self.upstream_port};",
            "    listen [::]:80;\n": "",
            "    listen [::]:443 ssl http2;\n": "",
            "listen 80;": f"listen 127.0.0.1:{self.http_port};",
            "listen 443 ssl http2;": f"listen 127.0.0.1:{self.port} ssl http2;",
            "/etc/letsencrypt/live/chat.example.ph/fullchain.pem": str(self.cert),
            "/etc/letsencrypt/live/chat.example.ph/privkey.pem": str(key),
            "root /var/cache/elako/static;": f"root {self.static_dir};",
        })
        (self.dir / "elako.conf").write_text(site)
        # As root, nginx hands its workers to `nobody`, who could not read the test's files.
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
        (self.dir / "nginx.conf").write_text(
            MAIN_CONF.format(user=user, dir=self.dir, brotli=BROTLI_STATIC))

    def start(self):
        self.write_config()
        command = [NGINX, "-p", str(self.dir), "-c", str(self.dir / "nginx.conf"),
                   "-e", str(self.dir / "error.log")]
        checked = subprocess.run([*command, "-t"], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        wait_for_port(self.port, self.process, timeout=10)
        return self

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # fast shutdown: open streams are cut
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)

    def log(self):
        path = self.dir / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""
