"""The anchors' signing key (Ed25519) and the trusted public keys, both outside the database.

The private key is a PEM file named by `POSTLOAN_ANCHOR_KEY_FILE`; the trusted public keys are
`<key id>.pem` files in `POSTLOAN_ANCHOR_TRUSTED_KEYS_DIR`. A key's id is the fingerprint of its
public key (SHA-256 of the raw 32 bytes, first 32 hex digits). Rotation writes a new private key
and adds its public key to the trusted folder; the old public keys stay, so old anchors verify.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from core.errors import PostloanError
from core.settings import Settings, get_settings


class AnchorKeyError(PostloanError):
    code = "anchor_key_invalid"


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:32]


def _public_pem(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _write_private(path: Path, key: Ed25519PrivateKey, *, replace: bool) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    target = path.with_suffix(path.suffix + ".new") if replace else path
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # owner-only
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())
    if replace:
        os.replace(target, path)


def trust(public: Ed25519PublicKey, settings: Settings | None = None) -> str:
    """Add a public key to the trusted folder (idempotent); its key id."""
    folder = Path((settings or get_settings()).anchor_trusted_keys_dir)
    folder.mkdir(parents=True, exist_ok=True)
    kid = key_id(public)
    path = folder / f"{kid}.pem"
    if not path.exists():
        path.write_bytes(_public_pem(public))
    return kid


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey
    key_id: str

    def sign(self, message: bytes) -> str:
        return self.private.sign(message).hex()


def signing_key(settings: Settings | None = None) -> SigningKey:
    """The configured signing key; generated once (owner-only) where none exists yet, and its
    public key trusted (a development machine; production mounts the key file)."""
    settings = settings or get_settings()
    path = Path(settings.anchor_key_file)
    if not path.exists():
        key = Ed25519PrivateKey.generate()
        try:
            _write_private(path, key, replace=False)
        except FileExistsError:  # another process generated it first: use theirs
            return signing_key(settings)
        trust(key.public_key(), settings)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise AnchorKeyError(
            f"锚点签名密钥须为 Ed25519 私钥 (the anchor key file {path} is not an Ed25519 key)"
        )
    return SigningKey(loaded, key_id(loaded.public_key()))


def rotate(settings: Settings | None = None) -> tuple[str | None, str]:
    """A new signing key in place of the old one; both public keys stay trusted.
    Returns (old key id or None, new key id)."""
    settings = settings or get_settings()
    path = Path(settings.anchor_key_file)
    old = signing_key(settings).key_id if path.exists() else None
    if old is not None:
        trust(signing_key(settings).private.public_key(), settings)
    key = Ed25519PrivateKey.generate()
    _write_private(path, key, replace=path.exists())
    return old, trust(key.public_key(), settings)


def trusted_keys(settings: Settings | None = None) -> dict[str, Ed25519PublicKey]:
    """key id → public key, from the trusted folder (a key's id is recomputed from the key, never
    taken from the file name)."""
    folder = Path((settings or get_settings()).anchor_trusted_keys_dir)
    keys: dict[str, Ed25519PublicKey] = {}
    if not folder.is_dir():
        return keys
    for path in sorted(folder.glob("*.pem")):
        loaded = serialization.load_pem_public_key(path.read_bytes())
        if isinstance(loaded, Ed25519PublicKey):
            keys[key_id(loaded)] = loaded
    return keys


def signature_valid(public: Ed25519PublicKey, message: bytes, signature: str) -> bool:
    try:
        public.verify(bytes.fromhex(signature), message)
    except (InvalidSignature, ValueError):
        return False
    return True
