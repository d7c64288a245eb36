"""An SMTP peer that behaves like a provider across a network, for the benchmarks: STARTTLS with a local certificate
(made here, trusted through ``SSL_CERT_FILE``) and a fixed delay before every reply, as a round trip to a relay in
another data centre adds. It listens on 127.0.0.1 only and keeps what it receives (``channels.peers.smtp``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, AnyStr

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from channels.peers.smtp import Mailbox, _free_port, _Handler

__all__ = ["NetworkSmtpPeer", "local_certificate"]


def local_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key: ``(cert.pem, key.pem)``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class _SlowSMTP(SMTP):
    delay = 0.0

    async def push(self, status: AnyStr) -> None:
        await asyncio.sleep(self.delay)  # the round trip of each reply
        await super().push(status)


class _Controller(Controller):
    def __init__(self, handler: Any, *, delay: float, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.delay = delay

    def factory(self) -> SMTP:
        server = _SlowSMTP(self.handler, **self.SMTP_kwargs)
        server.delay = self.delay
        return server


class NetworkSmtpPeer:
    """``with NetworkSmtpPeer(workdir, delay=0.002) as peer:`` serves SMTP with STARTTLS (required) on 127.0.0.1 at
    ``peer.port``, waiting ``delay`` seconds before each reply, from a process of its own (as a provider is: its
    work never competes with the client's for this process's interpreter lock). Sets ``SSL_CERT_FILE`` to its
    certificate so that clients in this process and its children trust it. ``peer.received()`` is the number of
    messages it accepted."""

    def __init__(self, workdir: Path, *, delay: float) -> None:
        self.certificate, self.key = local_certificate(workdir)
        os.environ["SSL_CERT_FILE"] = str(self.certificate)
        self.delay = delay
        self.port = _free_port()
        self._count = workdir / f"smtp-{self.port}.count"
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> NetworkSmtpPeer:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "hub.testing.netpeer", str(self.port), str(self.delay), str(self.certificate),
             str(self.key), str(self._count)],
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return self
            if time.monotonic() > deadline or self._process.poll() is not None:
                raise RuntimeError("the SMTP peer did not start")
            time.sleep(0.05)

    def received(self) -> int:
        with contextlib.suppress(OSError, ValueError):
            return int(self._count.read_text() or 0)
        return 0

    def cpu_seconds(self) -> float:
        """The CPU time the peer's process used so far, user and system (Linux; 0 elsewhere)."""
        if self._process is None:
            return 0.0
        try:
            fields = Path(f"/proc/{self._process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)


class _Counting(_Handler):
    def __init__(self, path: Path) -> None:
        super().__init__(Mailbox(), None)
        self.path = path
        self.count = 0

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        self.count += len(envelope.rcpt_tos)
        self.path.write_text(str(self.count))
        return "250 Message accepted for delivery"


def _serve(port: int, delay: float, cert: Path, key: Path, count: Path) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    controller = _Controller(
        _Counting(count), delay=delay, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True
    )
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
    controller.stop()


if __name__ == "__main__":
    _serve(int(sys.argv[1]), float(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]), Path(sys.argv[5]))
