"""Kafka over TLS: `[kafka] ssl_cafile` (and a client certificate) reach the real kafka-python client.

No TLS-speaking Kafka broker runs here, so a TLS server on 127.0.0.1 stands in for the broker's
listener: it records whether the client completed the handshake, which it can only do when it
trusts the CA named by `ssl_cafile`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kafka.errors import KafkaError

from infra.config import ConfigError, load_settings
from infra.kafka import make_consumer


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


def _ca(tmp: Path, label: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(label))
        .issuer_name(_name(label))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = tmp / f"{label}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert, path


def _leaf(tmp: Path, label: str, ca_key: ec.EllipticCurvePrivateKey, ca: x509.Certificate) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(label))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = tmp / f"{label}.crt", tmp / f"{label}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, key_path)
    return cert_path, key_path


@dataclass
class _TlsListener:
    port: int
    handshakes: threading.Event = field(default_factory=threading.Event)
    failures: threading.Event = field(default_factory=threading.Event)
    client_subjects: list[str] = field(default_factory=list)


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Path]:
    ca_key, ca, ca_path = _ca(tmp_path, "radar-test-ca")
    _, _, other_ca_path = _ca(tmp_path, "some-other-ca")
    server_crt, server_key = _leaf(tmp_path, "broker", ca_key, ca)
    client_crt, client_key = _leaf(tmp_path, "radar-client", ca_key, ca)
    return {
        "ca": ca_path,
        "other_ca": other_ca_path,
        "server_crt": server_crt,
        "server_key": server_key,
        "client_crt": client_crt,
        "client_key": client_key,
    }


@pytest.fixture
def listener(pki: dict[str, Path]) -> Iterator[_TlsListener]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki["server_crt"], pki["server_key"])
    context.load_verify_locations(pki["ca"])
    context.verify_mode = ssl.CERT_OPTIONAL  # a client certificate is recorded when one is sent
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    state = _TlsListener(server.getsockname()[1])
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    peer = tls.getpeercert()
                    if peer:
                        state.client_subjects.append(dict(x[0] for x in peer["subject"])["commonName"])
                    state.handshakes.set()
            except (ssl.SSLError, OSError):
                state.failures.set()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield state
    stop.set()
    server.close()
    thread.join(timeout=5)


def _config(tmp_path: Path, port: int, extra: str) -> Path:
    config = tmp_path / "conf" / "radar.toml"
    config.parent.mkdir(exist_ok=True)
    config.write_text(f'[kafka]\nbootstrap = "127.0.0.1:{port}"\nsecurity_protocol = "SSL"\n{extra}', encoding="utf-8")
    return config


def _connect(config: Path) -> None:
    settings = load_settings(config)
    # The stand-in listener speaks TLS but not Kafka, so the client gives up after the handshake.
    with pytest.raises(KafkaError):
        make_consumer(settings.kafka.bootstrap, settings.kafka, bootstrap_timeout_ms=3000)


def test_the_configured_ca_is_what_the_client_trusts(
    tmp_path: Path, pki: dict[str, Path], listener: _TlsListener
) -> None:
    # Relative to the config file, like every path in it.
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "ca.pem").write_bytes(pki["ca"].read_bytes())
    _connect(_config(tmp_path, listener.port, 'ssl_cafile = "ca.pem"\n'))
    assert listener.handshakes.wait(10), "the client never completed a TLS handshake"
    assert listener.client_subjects == []


def test_a_ca_that_did_not_sign_the_broker_is_refused(
    tmp_path: Path, pki: dict[str, Path], listener: _TlsListener
) -> None:
    _connect(_config(tmp_path, listener.port, f'ssl_cafile = "{pki["other_ca"]}"\n'))
    assert listener.failures.wait(10), "the handshake should have failed"
    assert not listener.handshakes.is_set()


def test_a_client_certificate_is_presented(tmp_path: Path, pki: dict[str, Path], listener: _TlsListener) -> None:
    _connect(
        _config(
            tmp_path,
            listener.port,
            f'ssl_cafile = "{pki["ca"]}"\nssl_certfile = "{pki["client_crt"]}"\nssl_keyfile = "{pki["client_key"]}"\n',
        )
    )
    assert listener.handshakes.wait(10)
    assert "radar-client" in listener.client_subjects


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('ssl_cafile = "missing.pem"\n', "ssl_cafile"),
        ('ssl_certfile = "{crt}"\n', "ssl_certfile and ssl_keyfile go together"),
    ],
    ids=["missing-file", "cert-without-key"],
)
def test_tls_mistakes_are_said_at_load_naming_the_key(
    tmp_path: Path, pki: dict[str, Path], extra: str, message: str
) -> None:
    config = _config(tmp_path, 9093, extra.format(crt=pki["client_crt"]))
    with pytest.raises(ConfigError, match=message):
        load_settings(config)


def test_tls_files_without_a_tls_protocol_are_refused(tmp_path: Path, pki: dict[str, Path]) -> None:
    config = tmp_path / "radar.toml"
    config.write_text(f'[kafka]\nbootstrap = "127.0.0.1:9093"\nssl_cafile = "{pki["ca"]}"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="security_protocol is PLAINTEXT"):
        load_settings(config)
