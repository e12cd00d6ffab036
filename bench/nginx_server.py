"""A native HTTP server that answers 200 to every POST: nginx, started by the bench itself.

The throughput and latency phases deliver to it instead of the Python stand-in, so that what
they measure is the consumer: the stand-in costs more CPU per request than the consumer's own
client, and a client that waits on a slow server sleeps and wakes for every few requests, which
costs CPU of its own. nginx with one worker keeps up with the consumer on a fraction of a core.

nginx is Debian's package, unpacked into `${MIK_CACHE_DIR:-.cache}/ops-tools/bin` by
`deploy/tools/install-nginx.sh` (run here when it is missing); `NGINX` names another binary.
The config is generated per run: loopback, one worker, no access log, `return 200`, bodies
discarded (up to any size: a batch is up to `batch.max_bytes`).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import kit

from devkit import processes

ROOT = Path(__file__).resolve().parent.parent
INSTALL = ROOT / "deploy" / "tools" / "install-nginx.sh"

CONFIG = """\
daemon off;
master_process off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    client_max_body_size 0;
    client_body_buffer_size 2m;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
{servers}
}}
"""
ANSWER = """\
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{ return 200; }}
    }}
"""
# To record what arrives (the latency phase), nginx must read each body into memory, which it
# does for a request it proxies: the front server logs the time and body of every request and
# proxies it over keep-alive connections to a second server block that answers 200.
RECORDING = """\
    log_format bodies escape=json '$msec $request_body';
    upstream answer {{
        server 127.0.0.1:{back};
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        client_body_in_single_buffer on;
        location / {{
            access_log {prefix}/bodies.log bodies;
            proxy_pass http://answer;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
    server {{
        listen 127.0.0.1:{back};
        location / {{ return 200; }}
    }}
"""


# A messageId in a body as the log escapes it (`escape=json`: quotes as backslash-quote).
MESSAGE_ID = re.compile(rb'\\"messageId\\":\\"([^\\"]*)\\"')


def binary() -> Path:
    """The nginx to run: `NGINX`, else the cached one (installed on first use)."""
    named = os.environ.get("NGINX")
    if named:
        found = shutil.which(named)
        if found is None:
            raise RuntimeError(f"NGINX={named} is not an executable")
        return Path(found)
    cache = Path(os.environ.get("MIK_CACHE_DIR", ROOT / ".cache"))
    path = cache / "ops-tools" / "bin" / "nginx"
    if not path.exists():
        subprocess.run(["bash", str(INSTALL)], check=True)
    return path


class NginxServer:
    """nginx on a free loopback port, answering 200 to everything, until `stop`; with
    `record`, also logging each request's arrival time and body (`arrivals`)."""

    def __init__(self, folder: Path, record: bool = False) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port = processes.free_port()
        back = processes.free_port() if record else 0
        servers = (RECORDING if record else ANSWER).format(prefix=folder, port=self.port, back=back)
        conf = folder / "nginx.conf"
        conf.write_text(CONFIG.format(prefix=folder, servers=servers))
        self.proc = subprocess.Popen(
            [str(binary()), "-p", str(folder), "-c", str(conf), "-e", str(folder / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=open(folder / "stderr.log", "wb"),  # noqa: SIM115 (the process keeps it)
        )
        self.url = f"http://127.0.0.1:{self.port}/behavioral/key"
        deadline = time.monotonic() + 10
        while not self._answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"nginx did not start: see {folder / 'error.log'}")
            time.sleep(0.05)

    def _answers(self) -> bool:
        try:
            request = urllib.request.Request(self.url, data=b"{}", method="POST")
            with urllib.request.urlopen(request, timeout=1) as answer:
                return bool(answer.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def arrivals(self) -> dict[str, float]:
        """With `record`: each messageId's first arrival (epoch seconds, when nginx answered);
        nginx writes each line as it answers."""
        path = self.folder / "bodies.log"
        found: dict[str, float] = {}
        if path.exists():
            for line in path.read_bytes().splitlines():
                stamp, _, body = line.partition(b" ")
                for message_id in MESSAGE_ID.findall(body):
                    found.setdefault(message_id.decode(), float(stamp))
        return found

    def cpu_s(self) -> float:
        return kit.cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: the log buffer is written
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> NginxServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
