"""
C{python -m chat.certs HOST}: a self-signed certificate and key for trying
TLS out (C{twistd chat --tls-cert cert.pem --tls-key key.pem}; clients use
C{--tls --ca cert.pem}).  For real use, take a certificate from a CA.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def self_signed(host: str, days: int = 365) -> tuple[bytes, bytes]:
    """PEM (certificate, private key) valid for C{host} (a name or an IP)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    try:
        alt: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        alt = x509.DNSName(host)
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([alt]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m chat.certs",
        description="A self-signed certificate and key for trying TLS out (twistd chat --tls-cert cert.pem "
                    "--tls-key key.pem; clients use --tls --ca cert.pem).  For real use, take a certificate "
                    "from a CA.")
    parser.add_argument("host", help="the name (or IP address) clients will connect to")
    parser.add_argument("--out", default=".", help="directory for cert.pem and key.pem")
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cert, key = self_signed(args.host, args.days)
    (out / "cert.pem").write_bytes(cert)
    key_path = out / "key.pem"
    key_path.write_bytes(key)
    os.chmod(key_path, 0o600)
    print(f"wrote {out / 'cert.pem'} and {key_path} for {args.host}")


if __name__ == "__main__":
    main()
