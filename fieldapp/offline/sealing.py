"""The sealed outbox, server side: the key pairs devices seal records to, and opening what they sealed.

A device encrypts each record's values at save time (fieldapp/offline/outbox.js) to the server's current public
key: a fresh ephemeral P-256 key per record, ECDH with the server's key, HKDF-SHA-256 (salt: the ephemeral public
key, info: INFO) to an AES-256-GCM key; the additional data binds the key id and the user who sealed it. So a
stolen phone's IndexedDB holds nothing readable without the server's private key, and one officer's sealed
record cannot be opened in another officer's name.

The key pairs live beside the database in KEY_FILE (mode 0600), created on first use like the VAPID keys.
rotate() adds a new current key and keeps the older ones, so what devices sealed before still opens. No web
imports.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from fieldapp.clock import now_iso

KEY_FILE = ".outbox_keys.json"
VERSION = 1
INFO = b"fieldapp outbox v1"
IV_BYTES = 12
POINT_BYTES = 65  # an uncompressed P-256 point
# A record's values are a few kilobytes; anything far larger is not a record of ours.
MAX_SEALED_BYTES = 512 * 1024


class SealBroken(ValueError):
    """A sealed record that cannot be opened. `code` says why: malformed, unknown_key or tampered."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


class SealedRecord(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What a device sends in place of a record's values (all bytes base64url without padding)."""

    v: int
    kid: str
    epk: str   # the ephemeral public key, an uncompressed P-256 point
    iv: str    # the AES-GCM nonce (12 bytes)
    ct: str    # the ciphertext with its 16-byte tag


@dataclass(frozen=True)
class OutboxKey:
    kid: str
    created_at: str
    private: ec.EllipticCurvePrivateKey

    def public_raw(self) -> bytes:
        return self.private.public_key().public_bytes(serialization.Encoding.X962,
                                                      serialization.PublicFormat.UncompressedPoint)


@dataclass(frozen=True)
class Keyring:
    """The server's outbox keys, oldest first; the last one is the one devices seal to."""

    keys: tuple[OutboxKey, ...]

    @property
    def current(self) -> OutboxKey:
        return self.keys[-1]

    def get(self, kid: str) -> OutboxKey | None:
        return next((key for key in self.keys if key.kid == kid), None)

    def public(self) -> dict[str, str]:
        """What devices need to seal: the current key's id and its public point (base64url)."""
        return {"kid": self.current.kid, "alg": "ECDH-P256+HKDF-SHA256+A256GCM", "key": b64(self.current.public_raw())}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64(text: str) -> bytes:
    if not isinstance(text, str) or len(text) > MAX_SEALED_BYTES * 2:
        raise SealBroken("malformed")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise SealBroken("malformed") from exc


def key_path(data_dir: Path) -> Path:
    return Path(data_dir) / KEY_FILE


def _new_key() -> dict[str, str]:
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return {"kid": secrets.token_hex(8), "created_at": now_iso(), "private_pem": pem.decode()}


def _write(path: Path, entries: list[dict], *, exclusive: bool) -> None:
    """Write the key file with mode 0600: exclusively (first start; two starts at once agree on one file) or by
    replacing it whole (a rotation: a reader sees the old file or the new one, never half of one)."""
    body = json.dumps({"keys": entries}, indent=1).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    target = path if exclusive else path.with_name(path.name + f".{secrets.token_hex(4)}.tmp")
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(body)
        fh.flush()
        os.fsync(fh.fileno())
    if not exclusive:
        os.replace(target, path)


_cache: dict[Path, tuple[tuple[int, int], Keyring]] = {}
_lock = threading.Lock()


def load(data_dir: Path) -> Keyring:
    """The keyring beside the database, created on first use. Re-read when the file changed (a rotation by the CLI
    reaches a running server at its next request)."""
    path = key_path(data_dir)
    if not path.exists():
        try:
            _write(path, [_new_key()], exclusive=True)
        except FileExistsError:
            pass
    stat = path.stat()
    stamp = (stat.st_mtime_ns, stat.st_size)
    with _lock:
        cached = _cache.get(path)
        if cached and cached[0] == stamp:
            return cached[1]
        entries = json.loads(path.read_bytes())["keys"]
        ring = Keyring(tuple(
            OutboxKey(e["kid"], e["created_at"],
                      serialization.load_pem_private_key(e["private_pem"].encode(), password=None))
            for e in entries))
        _cache[path] = (stamp, ring)
        return ring


def rotate(data_dir: Path) -> Keyring:
    """Make a new current key; the older ones are kept so that records devices sealed before still open."""
    load(data_dir)  # (creates the file if there is none yet)
    path = key_path(data_dir)
    entries = json.loads(path.read_bytes())["keys"]
    entries.append(_new_key())
    _write(path, entries, exclusive=False)
    return load(data_dir)


def _aad(kid: str, username: str) -> bytes:
    return f"fieldapp-outbox/{VERSION}|{kid}|{username}".encode()


def _aes_key(shared: bytes, epk: bytes) -> AESGCM:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=epk, info=INFO).derive(shared)
    return AESGCM(derived)


def open_sealed(ring: Keyring, sealed: SealedRecord, username: str) -> dict[str, Any]:
    """The values a device sealed. SealBroken when the envelope is malformed, names a key this server does not
    have, or was changed (or sealed by another user): nothing of it is trusted then."""
    if sealed.v != VERSION:
        raise SealBroken("malformed")
    key = ring.get(sealed.kid)
    if key is None:
        raise SealBroken("unknown_key")
    epk, iv, ct = unb64(sealed.epk), unb64(sealed.iv), unb64(sealed.ct)
    if len(epk) != POINT_BYTES or len(iv) != IV_BYTES or not 16 <= len(ct) <= MAX_SEALED_BYTES:
        raise SealBroken("malformed")
    try:
        device_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), epk)
    except ValueError as exc:
        raise SealBroken("malformed") from exc
    shared = key.private.exchange(ec.ECDH(), device_key)
    try:
        plain = _aes_key(shared, epk).decrypt(iv, ct, _aad(key.kid, username))
    except InvalidTag as exc:
        raise SealBroken("tampered") from exc
    try:
        values = msgspec.json.decode(plain)
    except msgspec.DecodeError as exc:
        raise SealBroken("malformed") from exc
    if not isinstance(values, dict):
        raise SealBroken("malformed")
    return values


def seal(public: dict[str, str], values: dict[str, Any], username: str) -> SealedRecord:
    """Seal values as a device does (outbox.js): for tests and tools; the server itself never needs to."""
    server_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64(public["key"]))
    ephemeral = ec.generate_private_key(ec.SECP256R1())
    epk = ephemeral.public_key().public_bytes(serialization.Encoding.X962,
                                              serialization.PublicFormat.UncompressedPoint)
    iv = os.urandom(IV_BYTES)
    plain = json.dumps(values, ensure_ascii=False).encode()
    ct = _aes_key(ephemeral.exchange(ec.ECDH(), server_key), epk).encrypt(iv, plain, _aad(public["kid"], username))
    return SealedRecord(v=VERSION, kid=public["kid"], epk=b64(epk), iv=b64(iv), ct=b64(ct))
