# SPDX-License-Identifier: GPL-3.0-or-later
"""TLS material for the lab's HTTPS listeners: a lab CA and server certificates with IP SANs.

Clients keep certificate validation on by trusting ``TlsMaterial.ca_path`` (pywinrm
``ca_trust_path``, Ansible ``ansible_winrm_ca_trust_path``). One ECDSA P-256 server certificate
covers every host address of one /24 (a lab site) plus ``DNS:localhost``, so a fleet of 1,000+
hosts needs only a handful of certificates and SSL contexts (about a millisecond each to mint).
The certificates follow RFC 5280 closely enough for Python 3.13's ``VERIFY_X509_STRICT``
(critical basicConstraints and keyUsage, SKI/AKI, serverAuth EKU).
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import pathlib
import ssl
import threading
from collections.abc import Iterable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = datetime.timedelta(days=30)


def _group(address: str) -> str:
    """The /24 (IPv4) or /64 (IPv6) an address belongs to; one certificate per group."""
    ip = ipaddress.ip_address(address)
    prefix = 24 if ip.version == 4 else 64
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def _write(path: pathlib.Path, data: bytes, private: bool = False) -> None:
    path.write_bytes(data)
    if private:
        os.chmod(path, 0o600)


class TlsMaterial:
    """A lab CA plus server certificates (with IP SANs) for the hosts' addresses.

    Attributes: ``ca_path`` (PEM of the CA certificate), ``directory``. Use ``context_for(address)``
    for a listener's server-side ``ssl.SSLContext`` and ``cbt_for(address)`` for the NTLM channel
    binding application data (``tls-server-end-point:`` + hash of the certificate).
    """

    def __init__(self, directory: pathlib.Path, ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate) -> None:
        self.directory = pathlib.Path(directory)
        self.ca_path = self.directory / "lab-ca.pem"
        self._ca_key = ca_key
        self._ca_cert = ca_cert
        self._lock = threading.Lock()
        self._groups: dict[str, set[str]] = {}  # group -> addresses
        self._certs: dict[str, tuple[pathlib.Path, pathlib.Path, bytes]] = {}  # group -> (cert, key, DER)
        self._contexts: dict[str, ssl.SSLContext] = {}

    @classmethod
    def create(cls, directory: pathlib.Path, addresses: Iterable[str]) -> TlsMaterial:
        """Mint a new CA in ``directory`` (created if missing) and server certificates for ``addresses``."""
        directory = pathlib.Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        now = datetime.datetime.now(datetime.UTC)
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "hygiene.winpatch lab"),
                x509.NameAttribute(NameOID.COMMON_NAME, f"hygiene.winpatch lab CA {now:%Y%m%d%H%M%S}"),
            ]
        )
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256())
        )
        material = cls(directory, key, cert)
        _write(material.ca_path, cert.public_bytes(serialization.Encoding.PEM))
        material.add_addresses(addresses)
        return material

    def add_addresses(self, addresses: Iterable[str]) -> None:
        """Cover more addresses; a group's certificate is re-issued when it gains an address."""
        with self._lock:
            changed: set[str] = set()
            for address in addresses:
                group = _group(address)
                members = self._groups.setdefault(group, set())
                if address not in members:
                    members.add(address)
                    changed.add(group)
            for group in changed:
                self._issue(group)

    def _issue(self, group: str) -> None:
        now = datetime.datetime.now(datetime.UTC)
        key = ec.generate_private_key(ec.SECP256R1())
        addresses = sorted(self._groups[group], key=ipaddress.ip_address)
        sans: list[x509.GeneralName] = [x509.DNSName("localhost")]
        sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"winpatch lab {group}")]))
            .issuer_name(self._ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._ca_key.public_key()), critical=False
            )
            .sign(self._ca_key, hashes.SHA256())
        )
        stem = group.replace("/", "_").replace(":", "-")
        cert_path = self.directory / f"server-{stem}.pem"
        key_path = self.directory / f"server-{stem}-key.pem"
        _write(
            key_path,
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
            private=True,
        )
        _write(
            cert_path,
            cert.public_bytes(serialization.Encoding.PEM) + self._ca_cert.public_bytes(serialization.Encoding.PEM),
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(cert_path, key_path)
        self._certs[group] = (cert_path, key_path, cert.public_bytes(serialization.Encoding.DER))
        self._contexts[group] = context

    def _lookup(self, address: str) -> str:
        group = _group(address)
        if address not in self._groups.get(group, ()):
            raise KeyError(f"the lab TLS material has no certificate for address {address}")
        return group

    def context_for(self, address: str) -> ssl.SSLContext:
        """The server-side SSL context whose certificate covers ``address``; KeyError if none does."""
        with self._lock:
            return self._contexts[self._lookup(address)]

    def cert_path_for(self, address: str) -> pathlib.Path:
        with self._lock:
            return self._certs[self._lookup(address)][0]

    def cbt_for(self, address: str) -> bytes:
        """NTLM channel-binding application data for the certificate of ``address`` (RFC 5929 tls-server-end-point).

        The hash is SHA-256: the certificates are signed with ECDSA-SHA256, and RFC 5929 (as requests-ntlm
        implements it) uses the signature's hash, with SHA-256 replacing MD5/SHA-1.
        """
        with self._lock:
            der = self._certs[self._lookup(address)][2]
        return b"tls-server-end-point:" + hashlib.sha256(der).digest()
