"""The page on the local network (python -m ui --lan): HTTPS with the user's certificate or a
self-signed one made on first use and kept, and what to type on the phone (address, the
certificate's SHA-256 fingerprint, a QR code of the address)."""
from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path

STATE_DIR = Path.home() / ".local" / "share" / "face-verify" / "ui-tls"
CERT_NAME, KEY_NAME = "cert.pem", "key.pem"
VALID_DAYS = 397  # browsers refuse server certificates valid for longer than about 13 months


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path
    fingerprint: str  # SHA-256 of the DER certificate, as browsers show it (AB:CD:...)
    made_now: bool = False  # made by this start (the phone has not seen it before)


def local_addresses() -> list[str]:
    """This machine's IPv4 addresses a phone on the same network may reach (loopback and
    link-local left out), read from the interfaces: nothing is sent anywhere."""
    import psutil

    found = []
    for entries in psutil.net_if_addrs().values():
        for entry in entries:
            if entry.family != socket.AF_INET:
                continue
            address = ipaddress.ip_address(entry.address)
            if not (address.is_loopback or address.is_link_local) and entry.address not in found:
                found.append(entry.address)
    return found


def subject_names(addresses: list[str]) -> tuple[list[str], list[str]]:
    """(DNS names, IP addresses) the certificate must cover: the hostname (and its .local
    form, which phones resolve by mDNS), localhost, loopback and `addresses`."""
    host = socket.gethostname()
    names = [host] + ([f"{host}.local"] if "." not in host else []) + ["localhost"]
    return names, ["127.0.0.1", *[a for a in addresses if a != "127.0.0.1"]]


def fingerprint_of(cert_pem: bytes) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    der = x509.load_pem_x509_certificate(cert_pem).public_bytes(Encoding.DER)
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def covers(cert_pem: bytes, names: list[str], ips: list[str]) -> bool:
    """Whether a kept certificate is still valid for a day and names every current name and address."""
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(cert_pem)
    if cert.not_valid_after_utc < datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1):
        return False
    try:
        alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    have_names = set(alt.get_values_for_type(x509.DNSName))
    have_ips = {str(ip) for ip in alt.get_values_for_type(x509.IPAddress)}
    return set(names) <= have_names and set(ips) <= have_ips


def make_self_signed(names: list[str], ips: list[str]) -> tuple[bytes, bytes]:
    """(certificate PEM, private key PEM): ECDSA P-256, for `names` and `ips`, server use only."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"face-verify page on {names[0]}"[:64])])
    now = datetime.datetime.now(datetime.UTC)
    alt = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def write_private(path: Path, data: bytes) -> None:
    """Writes `data` readable by the owner only, from the first byte (no moment at 0644)."""
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def certificate(cert: Path | None = None, key: Path | None = None, state_dir: Path = STATE_DIR,
                addresses: list[str] | None = None) -> Certificate:
    """The page's certificate: `cert` + `key` when given (the user's own, used as they are),
    else the self-signed one kept in `state_dir`, made there (folder 0700, key 0600) on first
    use or again when it no longer covers this machine's names and `addresses` (default: the
    interfaces' own) or is about to expire."""
    if (cert is None) != (key is None):
        raise ValueError("give both the certificate and its key, or neither")
    if cert is not None:
        return Certificate(Path(cert), Path(key), fingerprint_of(Path(cert).read_bytes()))
    names, ips = subject_names(local_addresses() if addresses is None else addresses)
    state_dir = Path(state_dir)
    kept_cert, kept_key = state_dir / CERT_NAME, state_dir / KEY_NAME
    if kept_cert.is_file() and kept_key.is_file() and covers(kept_cert.read_bytes(), names, ips):
        return Certificate(kept_cert, kept_key, fingerprint_of(kept_cert.read_bytes()))
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(state_dir, 0o700)
    cert_pem, key_pem = make_self_signed(names, ips)
    write_private(kept_key, key_pem)
    kept_cert.write_bytes(cert_pem)
    return Certificate(kept_cert, kept_key, fingerprint_of(cert_pem), made_now=True)


def qr_code(text: str) -> str:
    """`text` as a QR code drawn with block characters, for the terminal (dark on light)."""
    import io

    import segno

    out = io.StringIO()
    segno.make(text, error="m").terminal(out=out, compact=True)
    return out.getvalue()


def banner(port: int, tls: Certificate, addresses: list[str], logins: list[str]) -> str:
    """What the terminal shows at the start: where to go on the phone (`addresses`: those the
    page listens on), how to check the certificate, how to log in."""
    urls = [f"https://{address}:{port}/" for address in addresses]
    lines = ["", "The page on the local network (HTTPS, login required):"]
    lines += [f"  open on the phone:  {url}" for url in urls] or [
        "  open on the phone:  nowhere: it listens on this machine only (--host)"]
    lines += [f"  on this machine:    https://127.0.0.1:{port}/",
              f"  certificate:        {tls.cert}" + (" (made now)" if tls.made_now else ""),
              f"  SHA-256 fingerprint {tls.fingerprint}",
              "  The browser warns about a certificate it does not know: check that the fingerprint it",
              "  shows (the padlock or warning page: certificate details) is the one above before going on.",
              f"  log in with: {' or '.join(logins)}"]
    if urls:
        lines += ["", qr_code(urls[0])]
    return "\n".join(lines)
