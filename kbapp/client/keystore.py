"""Where a device keeps its secrets: device key seeds and PUK seeds.

Paper keys are never stored: their whole point is to live on paper.

Backends, all behind one small API (`get`, `put`, `delete`, bytes values):

* `KeyringBackend`: the OS keyring (Secret Service, macOS Keychain, Windows
  Credential Manager) through `keyring`. Used only when a real backend is
  present; keyring's fail/null backends, and a chainer with nothing to chain,
  would silently lose or refuse secrets.
* `EncryptedFileBackend`: one file in the profile, sealed with a passphrase
  (argon2id "moderate": 3 passes over 256 MiB, ~0.65 s once per open, then
  XSalsa20-Poly1305). Writes are atomic (temp file, fsync, os.replace), the
  file is 0600, and a file that does not open with the passphrase is never
  overwritten.
* `MemoryBackend`: for tests; shared per profile within a process so that
  several in-process clients with separate profiles behave like separate
  machines, and two opens of one profile see the same secrets.

Entries are namespaced per profile: the keyring service name carries a hash of
the profile directory's absolute path, so profiles never read each other's keys.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import os
import re
import secrets
import threading
import unicodedata
from pathlib import Path
from typing import Any, Iterator, Protocol

import nacl.exceptions
import nacl.pwhash
import nacl.secret

from kbapp.core.encoding import pack, unpack
from kbapp.core.errors import EncodingError, KeystoreError, KeystoreNotPersistent, WrongPassphrase
from kbapp.core.keys import DeviceKeys

from .crashpoint import crash_point
from .passphrase import check_passphrase
from .paths import private_dir

try:  # POSIX advisory locks keep two processes (CLI + GUI) from racing a write.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

ENV_BACKEND = "KBAPP_KEYSTORE"
ENV_PASSPHRASE = "KBAPP_PASSPHRASE"
ENV_THROWAWAY = "KBAPP_THROWAWAY"
BACKENDS = ("memory", "file", "keyring")
KEYSTORE_FILE = "keystore.kbks"
SERVICE_PREFIX = "kbapp"

_NAME_RE = re.compile(r"[A-Za-z0-9._:/@-]{1,200}")
MAX_VALUE = 64 * 1024

_argon = nacl.pwhash.argon2id
FILE_KDF_LIMITS: tuple[int, int] = (_argon.OPSLIMIT_MODERATE, _argon.MEMLIMIT_MODERATE)
_MAX_OPSLIMIT = 16
_MAX_MEMLIMIT = _argon.MEMLIMIT_SENSITIVE  # 1 GiB: refuse headers asking for more


def profile_namespace(profile_dir: str | os.PathLike) -> str:
    """A stable name for a profile: hash of its absolute path (no path leaks into the keyring)."""
    resolved = str(Path(profile_dir).expanduser().resolve())
    return f"{SERVICE_PREFIX}-{hashlib.sha256(resolved.encode('utf-8', 'surrogatepass')).hexdigest()[:32]}"


def check_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise KeystoreError(f"bad keystore entry name {name!r} (letters, digits and ._:/@- only)")
    return name


def _check_value(value: object) -> bytes:
    if not isinstance(value, (bytes, bytearray)):
        raise KeystoreError("keystore values are bytes")
    if len(value) > MAX_VALUE:
        raise KeystoreError(f"keystore values are at most {MAX_VALUE} bytes")
    return bytes(value)


class Backend(Protocol):
    kind: str

    def get(self, name: str) -> bytes | None: ...
    def put(self, name: str, value: bytes) -> None: ...
    def delete(self, name: str) -> None: ...


# --- memory -----------------------------------------------------------------

_MEMORY: dict[str, dict[str, bytes]] = {}
_MEMORY_LOCK = threading.Lock()


class MemoryBackend:
    """Secrets in a process-wide dict per namespace (tests, throwaway profiles)."""

    kind = "memory"

    def __init__(self, namespace: str = "default"):
        with _MEMORY_LOCK:
            self._data = _MEMORY.setdefault(namespace, {})
        self.namespace = namespace

    def get(self, name: str) -> bytes | None:
        with _MEMORY_LOCK:
            return self._data.get(name)

    def put(self, name: str, value: bytes) -> None:
        with _MEMORY_LOCK:
            self._data[name] = value

    def delete(self, name: str) -> None:
        with _MEMORY_LOCK:
            self._data.pop(name, None)


def clear_memory_keystores(namespace: str | None = None) -> None:
    """Forget in-memory secrets (one namespace, or all): for test isolation."""
    with _MEMORY_LOCK:
        if namespace is None:
            for data in _MEMORY.values():
                data.clear()
            _MEMORY.clear()
        else:
            _MEMORY.pop(namespace, {}).clear()


# --- OS keyring --------------------------------------------------------------


def _real_backends(kr: Any) -> list:
    """The backends that would actually store something, unwrapping a chainer."""
    from keyring.backends import chainer, fail, null

    if isinstance(kr, chainer.ChainerBackend):
        return [b for kb in kr.backends for b in _real_backends(kb)]
    if isinstance(kr, (fail.Keyring, null.Keyring)):
        return []
    try:
        priority = kr.priority
    except Exception:  # a backend whose priority check fails is not viable
        return []
    # keyring ranks recommended backends >= 1; below that are insecure or
    # interactive ones (keyrings.alt's plaintext and getpass-prompting files).
    return [kr] if priority >= 1 else []


def keyring_usable(kr: Any = None) -> bool:
    """True when `keyring` (or the given backend) has a real place to keep secrets."""
    try:
        import keyring

        if kr is None:
            kr = keyring.get_keyring()
        return bool(_real_backends(kr))
    except Exception:
        return False


class KeyringBackend:
    """Secrets in the OS keyring, one entry per name, base64 text, under one service."""

    kind = "keyring"

    def __init__(self, service: str, kr: Any = None):
        import keyring

        self._kr = kr if kr is not None else keyring.get_keyring()
        if not keyring_usable(self._kr):
            raise KeystoreError(
                f"no usable OS keyring (keyring offers {type(self._kr).__module__}."
                f"{type(self._kr).__name__}); set {ENV_BACKEND}=file and {ENV_PASSPHRASE} "
                "to keep keys in a passphrase-protected file instead")
        self.service = service

    @contextlib.contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        from keyring.errors import KeyringError

        try:
            yield
        except KeyringError as e:
            raise KeystoreError(f"OS keyring failed to {action}: {e}") from None

    def get(self, name: str) -> bytes | None:
        with self._errors("read a secret"):
            text = self._kr.get_password(self.service, name)
        if text is None:
            return None
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise KeystoreError(f"OS keyring entry {name!r} is not base64: corrupt entry") from None

    def put(self, name: str, value: bytes) -> None:
        with self._errors("store a secret"):
            self._kr.set_password(self.service, name, base64.b64encode(value).decode("ascii"))

    def delete(self, name: str) -> None:
        from keyring.errors import KeyringError, PasswordDeleteError

        try:
            self._kr.delete_password(self.service, name)
        except PasswordDeleteError:
            return  # nothing stored: deleting is idempotent
        except KeyringError as e:
            raise KeystoreError(f"OS keyring failed to delete a secret: {e}") from None


# --- encrypted file -----------------------------------------------------------

_FILE_MAGIC = b"KBAPP-KEYSTORE\n"
_FILE_VERSION = 1
_FILE_CONTEXT = b"kbapp-keystore-file-v1"
_CHECK_LABEL = b"kbapp-keystore-file-v1 passphrase check"
_MAX_FILE = 4 << 20


def _normalise_passphrase(passphrase: object) -> bytes:
    if not isinstance(passphrase, str) or not passphrase:
        raise KeystoreError("the file keystore needs a non-empty passphrase")
    return unicodedata.normalize("NFC", passphrase).encode("utf-8")


class EncryptedFileBackend:
    """All of a profile's secrets in one passphrase-sealed file.

    Every read picks up changes other processes made (the file is re-read
    when its stat changes); every write is read-modify-write under a lock
    file, then an atomic replace, so a crash leaves the old or the new file.
    """

    kind = "file"

    def __init__(self, path: str | os.PathLike, passphrase: str, *,
                 kdf_limits: tuple[int, int] | None = None):
        self.path = Path(path)
        self._passphrase = _normalise_passphrase(passphrase)
        self._limits = kdf_limits or FILE_KDF_LIMITS
        self._lock = threading.RLock()
        self._entries: dict[str, bytes] = {}
        self._key: bytes | None = None
        self._kdf_params: tuple[bytes, int, int] | None = None  # (salt, ops, mem) of _key
        self._stat: tuple | None = None
        with self._lock:
            self._refresh()

    # -- reading

    def _file_stat(self) -> tuple | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise KeystoreError(f"cannot read keystore file {self.path}: {e}") from None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _refresh(self) -> None:
        st = self._file_stat()
        if st is None or st == self._stat:
            return
        self._entries = self._read()
        self._stat = st

    def _corrupt(self, why: str) -> KeystoreError:
        return KeystoreError(
            f"keystore file {self.path} is corrupt ({why}); it was left untouched. "
            "Restore it from a backup, or move it aside and sign in again with a paper key")

    def _derive(self, salt: bytes, ops: int, mem: int) -> bytes:
        if self._kdf_params == (salt, ops, mem) and self._key is not None:
            return self._key
        key = _argon.kdf(nacl.secret.SecretBox.KEY_SIZE, self._passphrase, salt,
                         opslimit=ops, memlimit=mem)
        self._key, self._kdf_params = key, (salt, ops, mem)
        return key

    def _read(self) -> dict[str, bytes]:
        try:
            with open(self.path, "rb") as f:
                data = f.read(_MAX_FILE + 1)
        except OSError as e:
            raise KeystoreError(f"cannot read keystore file {self.path}: {e}") from None
        if os.name == "posix":
            with contextlib.suppress(OSError):
                if self.path.stat().st_mode & 0o077:
                    os.chmod(self.path, 0o600)  # someone loosened it; tighten again
        if len(data) > _MAX_FILE:
            raise self._corrupt("too large")
        if not data.startswith(_FILE_MAGIC):
            raise self._corrupt("not a kbapp keystore")
        try:
            header = unpack(data[len(_FILE_MAGIC):], max_size=_MAX_FILE, max_depth=2)
        except EncodingError as e:
            raise self._corrupt(str(e)) from None
        if not isinstance(header, dict) or header.get("v") != _FILE_VERSION:
            raise self._corrupt("unknown format version")
        salt, ops, mem = header.get("salt"), header.get("ops"), header.get("mem")
        check, box = header.get("check"), header.get("box")
        if not (header.get("kdf") == "argon2id" and isinstance(salt, bytes)
                and len(salt) == _argon.SALTBYTES and type(ops) is int and type(mem) is int
                and _argon.OPSLIMIT_MIN <= ops <= _MAX_OPSLIMIT
                and _argon.MEMLIMIT_MIN <= mem <= _MAX_MEMLIMIT
                and isinstance(check, bytes) and isinstance(box, bytes)):
            raise self._corrupt("bad header")
        key = self._derive(salt, ops, mem)
        if not hmac.compare_digest(hmac.new(key, _CHECK_LABEL, hashlib.sha256).digest(), check):
            raise WrongPassphrase(
                f"wrong passphrase for keystore file {self.path} (check {ENV_PASSPHRASE})")
        try:
            plaintext = nacl.secret.SecretBox(key).decrypt(box)
        except nacl.exceptions.CryptoError:
            raise self._corrupt("the passphrase is right but the contents fail their MAC") from None
        try:
            entries = unpack(bytes(plaintext), max_size=_MAX_FILE, max_depth=2)
        except EncodingError:
            raise self._corrupt("sealed contents do not parse") from None
        if not isinstance(entries, dict) or not all(
                isinstance(k, str) and isinstance(v, bytes) for k, v in entries.items()):
            raise self._corrupt("sealed contents are not a name -> bytes map")
        return entries

    # -- writing

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        private_dir(self.path.parent)
        if fcntl is None:  # pragma: no cover - Windows: in-process lock only
            yield
            return
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _write(self, entries: dict[str, bytes]) -> None:
        if self._kdf_params is None:
            salt = secrets.token_bytes(_argon.SALTBYTES)
            self._derive(salt, *self._limits)
        salt, ops, mem = self._kdf_params  # type: ignore[misc]
        key = self._key
        box = nacl.secret.SecretBox(key).encrypt(
            pack(entries),
            secrets.token_bytes(nacl.secret.SecretBox.NONCE_SIZE))
        header = {"v": _FILE_VERSION, "kdf": "argon2id", "salt": salt, "ops": ops, "mem": mem,
                  "check": hmac.new(key, _CHECK_LABEL, hashlib.sha256).digest(), "box": bytes(box)}
        data = _FILE_MAGIC + pack(header)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            crash_point("during-keystore-write")
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        if hasattr(os, "O_DIRECTORY"):
            with contextlib.suppress(OSError):
                dfd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
                try:
                    os.fsync(dfd)
                finally:
                    os.close(dfd)
        self._entries = entries
        self._stat = self._file_stat()

    def _update(self, change) -> None:
        with self._lock:
            try:
                with self._file_lock():
                    self._refresh()  # raises, leaving the file alone, if it no longer opens
                    entries = dict(self._entries)
                    change(entries)
                    if entries != self._entries:
                        self._write(entries)
            except OSError as e:
                raise KeystoreError(f"cannot write keystore file {self.path}: {e}") from None

    # -- API

    def get(self, name: str) -> bytes | None:
        with self._lock:
            self._refresh()
            return self._entries.get(name)

    def put(self, name: str, value: bytes) -> None:
        self._update(lambda entries: entries.__setitem__(name, value))

    def delete(self, name: str) -> None:
        self._update(lambda entries: entries.pop(name, None))


# --- the keystore -------------------------------------------------------------


class Keystore:
    """A profile's secrets: validated names, bytes values, one backend."""

    def __init__(self, backend: Backend, namespace: str = ""):
        self.backend = backend
        self.namespace = namespace

    @property
    def kind(self) -> str:
        return self.backend.kind

    def get(self, name: str) -> bytes | None:
        return self.backend.get(check_name(name))

    def put(self, name: str, value: bytes) -> None:
        self.backend.put(check_name(name), _check_value(value))

    def delete(self, name: str) -> None:
        self.backend.delete(check_name(name))

    # -- what a device keeps

    @staticmethod
    def _device_name(uid: str) -> str:
        return f"device/{uid}"

    @staticmethod
    def _puk_name(uid: str) -> str:
        return f"puk/{uid}"

    def put_device_keys(self, uid: str, keys: DeviceKeys) -> None:
        sign_seed, enc_seed = keys.seeds()
        self.put(self._device_name(uid), pack({"sibkey": sign_seed, "subkey": enc_seed}))

    def get_device_keys(self, uid: str) -> DeviceKeys | None:
        raw = self.get(self._device_name(uid))
        if raw is None:
            return None
        try:
            obj = unpack(raw, max_size=MAX_VALUE, max_depth=2)
            return DeviceKeys.from_seeds(obj["sibkey"], obj["subkey"])
        except (EncodingError, KeyError, TypeError, ValueError):
            raise KeystoreError(f"stored device keys for {uid} are corrupt") from None

    def get_puk_seeds(self, uid: str) -> dict[int, bytes]:
        """Every PUK seed this device holds for uid, by generation (one entry, read atomically)."""
        raw = self.get(self._puk_name(uid))
        if raw is None:
            return {}
        try:
            obj = unpack(raw, max_size=MAX_VALUE, max_depth=2)
        except EncodingError:
            obj = None
        if not isinstance(obj, dict) or not all(
                type(g) is int and g >= 1 and isinstance(s, bytes) and len(s) == 32
                for g, s in obj.items()):
            raise KeystoreError(f"stored PUK seeds for {uid} are corrupt")
        return dict(sorted(obj.items()))

    def add_puk_seeds(self, uid: str, seeds: dict[int, bytes]) -> None:
        """Add generations; a generation already stored with another seed is an error."""
        current = self.get_puk_seeds(uid)
        for gen, seed in seeds.items():
            if type(gen) is not int or gen < 1 or not isinstance(seed, bytes) or len(seed) != 32:
                raise KeystoreError("PUK seeds are 32 bytes keyed by generation >= 1")
            if gen in current and not hmac.compare_digest(current[gen], seed):
                raise KeystoreError(f"PUK generation {gen} for {uid} is already stored with another seed")
            current[gen] = seed
        self.put(self._puk_name(uid), pack(dict(sorted(current.items()))))

    def forget_user(self, uid: str) -> None:
        """Delete this device's secrets for uid (logout with revocation, or reset)."""
        self.delete(self._device_name(uid))
        self.delete(self._puk_name(uid))


def require_throwaway(throwaway: bool = False) -> None:
    """The memory backend forgets every key when the process ends: an account made
    with it is lost at once. Only for a throwaway account, asked for explicitly."""
    if not (throwaway or os.environ.get(ENV_THROWAWAY) == "1"):
        raise KeystoreNotPersistent(
            f"{ENV_BACKEND}=memory keeps this device's keys only until the process ends, so the account "
            f"would be lost at once. For a throwaway account say so (--throwaway, or {ENV_THROWAWAY}=1); "
            f"otherwise unset {ENV_BACKEND} (OS keyring) or set it to file with {ENV_PASSPHRASE}")


def backend_for(profile_dir: str | os.PathLike, backend: str | None = None) -> str:
    """Which backend `open_keystore` will use, so a GUI knows beforehand whether to ask
    for a passphrase (it cannot prompt synchronously from inside its event loop)."""
    choice = backend or os.environ.get(ENV_BACKEND) or None
    if choice is None:
        if (Path(profile_dir).expanduser() / KEYSTORE_FILE).exists():
            choice = "file"
        else:
            choice = "keyring" if keyring_usable() else "file"
    return choice


def open_keystore(profile_dir: str | os.PathLike, *, backend: str | None = None,
                  passphrase: str | None = None, prompt=None, throwaway: bool = False) -> Keystore:
    """The keystore for a profile.

    Backend: the argument, else $KBAPP_KEYSTORE, else the file backend when
    the profile already has a keystore file, else the OS keyring when usable,
    else the file backend. Memory from the environment needs `throwaway` (or
    $KBAPP_THROWAWAY=1). The file passphrase: the argument, else
    $KBAPP_PASSPHRASE, else `prompt(new_file: bool)` (the CLI asks on a terminal);
    a new file's passphrase must pass `check_passphrase` (passphrase.py).
    """
    profile = Path(profile_dir).expanduser()
    namespace = profile_namespace(profile)
    file_path = profile / KEYSTORE_FILE
    choice = backend_for(profile, backend)
    if choice not in BACKENDS:
        raise KeystoreError(f"unknown keystore backend {choice!r}; use one of {', '.join(BACKENDS)}")
    if choice == "memory":
        if backend is None:
            require_throwaway(throwaway)
        return Keystore(MemoryBackend(namespace), namespace)
    if choice == "keyring":
        return Keystore(KeyringBackend(namespace), namespace)
    passphrase = passphrase or os.environ.get(ENV_PASSPHRASE) or None
    if passphrase is None and prompt is not None:
        passphrase = prompt(not file_path.exists()) or None
    if passphrase is None:
        raise KeystoreError(
            f"the keystore file {file_path} needs a passphrase: set {ENV_PASSPHRASE} "
            f"(or pass one), or set {ENV_BACKEND}=keyring where an OS keyring is available")
    if not file_path.exists():
        check_passphrase(passphrase)   # chosen now: an existing file opens with what sealed it
    return Keystore(EncryptedFileBackend(file_path, passphrase), namespace)
