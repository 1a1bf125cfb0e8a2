"""C2SP signed notes and tlog checkpoints, Ed25519 only.

A checkpoint is the server's signed statement "my log has `size` leaves and
root `root`". Clients pin the server's key at first contact and accept only
checkpoints it signed; using the common C2SP format means witnesses and
other transparency-dev tools can read and cosign ours.

Note:       <text, ending in "\\n">  "\\n"  <signature lines>
Signature:  "\u2014 " <key name> " " base64(key ID (4 bytes) || Ed25519 signature) "\\n"
Key ID:     SHA-256(key name || "\\n" || 0x01 || public key)[:4]
Checkpoint: text = <origin> "\\n" <size, decimal> "\\n" <base64 root> "\\n" [<extension> "\\n"]...
Verifier key (vkey): <name> "+" <hex key ID> "+" base64(0x01 || public key)

Parsing is strict (size caps, canonical base64, no stray bytes) because the
note comes from the untrusted server.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import NamedTuple

import nacl.exceptions
import nacl.signing

from ..errors import CheckpointError, EncodingError

MAX_NOTE_SIZE = 64 * 1024
MAX_SIGNATURES = 100
ALG_ED25519 = 0x01
SIG_PREFIX = "\u2014 "  # em dash, space
HASH_SIZE = 32

_SIZE_RE = re.compile(r"(?:0|[1-9][0-9]{0,19})")
_HEX8_RE = re.compile(r"[0-9a-f]{8}")


def _valid_name(name) -> bool:
    """Go's note rule: non-empty, no Unicode space, no '+'; we also refuse control characters."""
    return (isinstance(name, str) and name != "" and "+" not in name
            and not any(c.isspace() or ord(c) < 0x20 or c == "\x7f" for c in name))


def _b64decode_strict(s: str) -> bytes | None:
    """Standard base64, padded, and canonical (re-encodes to the same text); None if not."""
    try:
        out = base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        return None
    return out if base64.b64encode(out).decode() == s else None


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte key ID that starts each signature, binding the key name to the key."""
    if not _valid_name(name):
        raise ValueError(f"invalid key name {name!r}")
    if not isinstance(public_key, (bytes, bytearray)) or len(public_key) != 32:
        raise ValueError("Ed25519 public keys are 32 bytes")
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + bytes(public_key)).digest()[:4]


class VerifierKey(NamedTuple):
    name: str
    public_key: bytes


def verifier_key(name: str, public_key: bytes) -> str:
    """The vkey string "name+keyid+base64(0x01||key)" that names a server key in config."""
    return f"{name}+{key_id(name, public_key).hex()}+{_b64(bytes([ALG_ED25519]) + bytes(public_key))}"


def parse_verifier_key(vkey: str) -> VerifierKey:
    """Parse and self-check a vkey; raise EncodingError if malformed."""
    if not isinstance(vkey, str) or len(vkey) > 1024:
        raise EncodingError("verifier key must be a short string")
    parts = vkey.split("+", 2)
    if len(parts) != 3 or not _valid_name(parts[0]) or not _HEX8_RE.fullmatch(parts[1]):
        raise EncodingError(f"malformed verifier key {vkey[:80]!r}")
    name, kid_hex, key_b64 = parts
    raw = _b64decode_strict(key_b64)
    if raw is None or len(raw) != 33 or raw[0] != ALG_ED25519:
        raise EncodingError("verifier key is not an Ed25519 key")
    public_key = raw[1:]
    if key_id(name, public_key).hex() != kid_hex:
        raise EncodingError("verifier key ID does not match its name and key")
    return VerifierKey(name, public_key)


def key_fingerprint(public_key: bytes) -> str:
    """Short form for people to compare out of band: 128 bits of SHA-256, in 8 hex groups."""
    if not isinstance(public_key, (bytes, bytearray)) or len(public_key) != 32:
        raise ValueError("Ed25519 public keys are 32 bytes")
    h = hashlib.sha256(bytes(public_key)).hexdigest()[:32]
    return " ".join(h[i:i + 4] for i in range(0, 32, 4))


def _check_text(text: str, error: type[Exception]) -> None:
    if not text.endswith("\n") or text.startswith("\n") or "\n\n" in text:
        raise error("note text must be non-empty lines, each ending in a newline")
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise error("note text holds a control character")


# --- notes --------------------------------------------------------------------


def sign_note(text: str, key_name: str, signing_key: nacl.signing.SigningKey) -> str:
    """`text` followed by a blank line and our signature line."""
    if not isinstance(signing_key, nacl.signing.SigningKey):
        raise TypeError("signing_key must be a nacl.signing.SigningKey")
    _check_text(text, ValueError)
    kid = key_id(key_name, bytes(signing_key.verify_key))
    sig = signing_key.sign(text.encode()).signature
    note = f"{text}\n{SIG_PREFIX}{key_name} {_b64(kid + sig)}\n"
    if len(note.encode()) > MAX_NOTE_SIZE:
        raise ValueError("note is too large")
    return note


def _parse_note(note) -> tuple[str, list[tuple[str, bytes]]]:
    """Split a note into its text and (name, key ID || signature) pairs."""
    if isinstance(note, (bytes, bytearray)):
        if len(note) > MAX_NOTE_SIZE:
            raise CheckpointError(f"note is over {MAX_NOTE_SIZE} bytes")
        try:
            note = bytes(note).decode("utf-8")
        except UnicodeDecodeError:
            raise CheckpointError("note is not UTF-8") from None
    if not isinstance(note, str):
        raise CheckpointError("note must be text")
    if len(note) > MAX_NOTE_SIZE:
        raise CheckpointError(f"note is over {MAX_NOTE_SIZE} bytes")
    try:
        size = len(note.encode("utf-8"))
    except UnicodeEncodeError:
        raise CheckpointError("note is not valid Unicode") from None
    if size > MAX_NOTE_SIZE:
        raise CheckpointError(f"note is over {MAX_NOTE_SIZE} bytes")
    if not note.endswith("\n"):
        raise CheckpointError("note does not end in a newline")
    split = note.rfind("\n\n")
    if split < 0:
        raise CheckpointError("note has no signatures")
    text, sig_block = note[:split + 1], note[split + 2:]
    _check_text(text, CheckpointError)
    lines = sig_block.split("\n")[:-1]
    if not lines:
        raise CheckpointError("note has no signatures")
    if len(lines) > MAX_SIGNATURES:
        raise CheckpointError(f"note has more than {MAX_SIGNATURES} signatures")
    sigs = []
    for line in lines:
        if not line.startswith(SIG_PREFIX):
            raise CheckpointError("malformed signature line (must start with an em dash and a space)")
        name, sep, b64 = line[len(SIG_PREFIX):].partition(" ")
        if not sep or not _valid_name(name) or " " in b64:
            raise CheckpointError("malformed signature line")
        raw = _b64decode_strict(b64)
        if raw is None or len(raw) < 5:
            raise CheckpointError("malformed signature in a signature line")
        sigs.append((name, raw))
    return text, sigs


def open_note(note, key_name: str, public_key: bytes) -> str:
    """Return the note's text if the key (key_name, public_key) signed it.

    Signatures by other keys (witnesses, say) are ignored; a bad signature
    claiming to be ours rejects the whole note.
    """
    text, sigs = _parse_note(note)
    kid = key_id(key_name, public_key)
    verify_key = nacl.signing.VerifyKey(bytes(public_key))
    ours = [raw[4:] for name, raw in sigs if name == key_name and raw[:4] == kid]
    if not ours:
        if any(name == key_name for name, _ in sigs):
            raise CheckpointError(f"note is signed by a different key named {key_name!r}: has the key changed?")
        raise CheckpointError(f"note is not signed by {key_name!r}")
    msg = text.encode()
    for sig in ours:
        if len(sig) != 64:
            raise CheckpointError("signature has the wrong length for Ed25519")
        try:
            verify_key.verify(msg, sig)
        except nacl.exceptions.BadSignatureError:
            raise CheckpointError(f"signature by {key_name!r} does not verify") from None
    return text


# --- checkpoints --------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()
    text: str = ""  # the whole signed note, to store or pass on to peers


def _check_line(line, what: str, error: type[Exception]) -> None:
    if not isinstance(line, str) or not line or "\n" in line or any(ord(c) < 0x20 for c in line):
        raise error(f"checkpoint {what} must be a non-empty single line")


def checkpoint_body(origin: str, size: int, root: bytes, extensions=()) -> str:
    _check_line(origin, "origin", ValueError)
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size < 1 << 64:
        raise ValueError(f"checkpoint size must be in [0, 2**64), got {size!r}")
    if not isinstance(root, (bytes, bytearray)) or len(root) != HASH_SIZE:
        raise ValueError("checkpoint root must be 32 bytes")
    for ext in extensions:
        _check_line(ext, "extension", ValueError)
    return f"{origin}\n{size}\n{_b64(bytes(root))}\n" + "".join(f"{e}\n" for e in extensions)


def sign_checkpoint(origin: str, size: int, root: bytes, key_name: str,
                    signing_key: nacl.signing.SigningKey, extensions=()) -> str:
    """The signed checkpoint note for a log of `size` leaves with root `root`."""
    return sign_note(checkpoint_body(origin, size, root, extensions), key_name, signing_key)


def parse_checkpoint_body(text: str) -> tuple[str, int, bytes, tuple[str, ...]]:
    """(origin, size, root, extensions) from a note text; CheckpointError if malformed."""
    lines = text.split("\n")
    if lines[-1] != "" or len(lines) < 4:
        raise CheckpointError("checkpoint needs origin, size and root lines")
    origin, size_s, root_s, *exts = lines[:-1]
    _check_line(origin, "origin", CheckpointError)
    if not _SIZE_RE.fullmatch(size_s) or int(size_s) >= 1 << 64:
        raise CheckpointError(f"checkpoint size {size_s[:30]!r} is not a canonical decimal below 2**64")
    root = _b64decode_strict(root_s)
    if root is None or len(root) != HASH_SIZE:
        raise CheckpointError("checkpoint root is not a base64 32-byte hash")
    for ext in exts:
        _check_line(ext, "extension", CheckpointError)
    return origin, int(size_s), root, tuple(exts)


def note_signature(note: str) -> str:
    """The first signature of a note (key ID || Ed25519 signature, base64): what a chain
    link embeds beside the checkpoint its author verified, so that the root it names is
    provably the server's word (`signed_checkpoint`), not only its signer's."""
    _, sigs = _parse_note(note)
    if not sigs:
        raise CheckpointError("note has no signature")
    return _b64(sigs[0][1])


def signed_checkpoint(origin: str, size: int, root: bytes, signature: object, key_name: str,
                      public_key: bytes) -> bool:
    """Did the pinned key sign the checkpoint (origin, size, root)? `signature` is what
    `note_signature` gave (untrusted: any value is judged, never raised on)."""
    if not isinstance(signature, str) or not 0 < len(signature) <= 200:
        return False
    try:
        note = f"{checkpoint_body(origin, size, root)}\n{SIG_PREFIX}{key_name} {signature}\n"
        verify_checkpoint(note, key_name, public_key, origin=origin)
    except (CheckpointError, ValueError):
        return False
    return True


def verify_checkpoint(text, key_name: str, public_key: bytes, *, origin: str | None = None) -> Checkpoint:
    """Verify a checkpoint note against the pinned key; raise CheckpointError otherwise."""
    body = open_note(text, key_name, public_key)
    got_origin, size, root, exts = parse_checkpoint_body(body)
    if origin is not None and got_origin != origin:
        raise CheckpointError(f"checkpoint is for log {got_origin[:100]!r}, not {origin!r}")
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode()
    return Checkpoint(got_origin, size, root, exts, text)
