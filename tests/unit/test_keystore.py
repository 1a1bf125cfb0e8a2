"""The device keystore: memory, encrypted file and OS keyring backends."""

import base64
import os
import stat

import keyring
import keyring.backend
import nacl.pwhash
import pytest
from keyring.backends import chainer, fail, null
from keyring.errors import PasswordDeleteError

from kbapp.client import keystore as ks
from kbapp.client.keystore import (
    EncryptedFileBackend,
    Keystore,
    KeyringBackend,
    MemoryBackend,
    clear_memory_keystores,
    keyring_usable,
    open_keystore,
    profile_namespace,
)
from kbapp.core.encoding import pack, unpack
from kbapp.core.errors import KeystoreError
from kbapp.core.keys import DeviceKeys

FAST = (nacl.pwhash.argon2id.OPSLIMIT_MIN, nacl.pwhash.argon2id.MEMLIMIT_MIN)
SECRET = b"\x13\x37" * 16
DEFAULT_FILE_KDF = ks.FILE_KDF_LIMITS


class DictKeyring(keyring.backend.KeyringBackend):
    """A tiny in-test OS keyring."""

    priority = 10

    def __init__(self):
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self.store.get((service, username))

    def set_password(self, service, username, password):
        self.store[(service, username)] = password

    def delete_password(self, service, username):
        if (service, username) not in self.store:
            raise PasswordDeleteError("not found")
        del self.store[(service, username)]


class PlaintextishKeyring(DictKeyring):
    priority = 0.5  # like keyrings.alt's non-recommended backends


@pytest.fixture(autouse=True)
def isolation(monkeypatch):
    clear_memory_keystores()
    monkeypatch.delenv(ks.ENV_BACKEND, raising=False)
    monkeypatch.delenv(ks.ENV_PASSPHRASE, raising=False)
    monkeypatch.setattr(ks, "FILE_KDF_LIMITS", FAST)
    original = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(original)
    clear_memory_keystores()


@pytest.fixture
def dict_keyring():
    kr = DictKeyring()
    keyring.set_keyring(kr)
    return kr


def file_backend(path, passphrase="correct horse"):
    return EncryptedFileBackend(path, passphrase, kdf_limits=FAST)


# --- API shared by every backend ---------------------------------------------------


@pytest.fixture(params=["memory", "file", "keyring"])
def store(request, tmp_path, dict_keyring):
    if request.param == "memory":
        return Keystore(MemoryBackend("t"))
    if request.param == "file":
        return Keystore(file_backend(tmp_path / "ks"))
    return Keystore(KeyringBackend("kbapp-test"))


def test_put_get_delete(store):
    assert store.get("device/x") is None
    store.put("device/x", SECRET)
    assert store.get("device/x") == SECRET
    store.put("device/x", b"")
    assert store.get("device/x") == b""
    store.delete("device/x")
    assert store.get("device/x") is None
    store.delete("device/x")  # idempotent
    store.delete("never-there")


def test_names_and_values_are_checked(store):
    for bad in ("", "a b", "a\nb", "x" * 201, None, b"n", "../\u00e9"):
        with pytest.raises(KeystoreError):
            store.put(bad, SECRET)
    for bad in ("text", None, 5, b"x" * (64 * 1024 + 1)):
        with pytest.raises(KeystoreError):
            store.put("name", bad)


def test_device_and_puk_helpers(store):
    uid = "74c38cf7ceb947f5632045d8ca5d4819"
    assert store.get_device_keys(uid) is None and store.get_puk_seeds(uid) == {}
    keys = DeviceKeys.from_seeds(b"\x01" * 32, b"\x02" * 32)
    store.put_device_keys(uid, keys)
    assert store.get_device_keys(uid).seeds() == keys.seeds()
    store.add_puk_seeds(uid, {2: b"\x22" * 32})
    store.add_puk_seeds(uid, {1: b"\x11" * 32, 2: b"\x22" * 32})
    assert store.get_puk_seeds(uid) == {1: b"\x11" * 32, 2: b"\x22" * 32}
    assert list(store.get_puk_seeds(uid)) == [1, 2]
    with pytest.raises(KeystoreError, match="already stored"):
        store.add_puk_seeds(uid, {1: b"\x99" * 32})
    for bad in ({0: b"\x11" * 32}, {3: b"short"}, {"3": b"\x11" * 32}):
        with pytest.raises(KeystoreError):
            store.add_puk_seeds(uid, bad)
    store.forget_user(uid)
    assert store.get_device_keys(uid) is None and store.get_puk_seeds(uid) == {}


def test_corrupt_helper_entries(store):
    store.put("device/u", b"junk")
    store.put("puk/u", pack({1: b"short"}))
    with pytest.raises(KeystoreError):
        store.get_device_keys("u")
    with pytest.raises(KeystoreError):
        store.get_puk_seeds("u")


# --- memory ------------------------------------------------------------------------


def test_memory_shared_per_profile(tmp_path):
    a1 = open_keystore(tmp_path / "alice", backend="memory")
    a2 = open_keystore(tmp_path / "alice", backend="memory")
    b = open_keystore(tmp_path / "bob", backend="memory")
    a1.put("k", SECRET)
    assert a2.get("k") == SECRET
    assert b.get("k") is None
    assert a1.namespace == profile_namespace(tmp_path / "alice") != b.namespace
    clear_memory_keystores(a1.namespace)
    assert open_keystore(tmp_path / "alice", backend="memory").get("k") is None


# --- encrypted file ---------------------------------------------------------------


def test_file_round_trip_and_mode(tmp_path):
    path = tmp_path / "profile" / "keystore.kbks"
    be = file_backend(path)
    assert not path.exists()  # nothing written until there is something to keep
    be.put("device/u", SECRET)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = path.read_bytes()
    assert SECRET not in data and b"device/u" not in data
    assert file_backend(path).get("device/u") == SECRET
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_file_two_handles_see_each_other(tmp_path):
    path = tmp_path / "ks"
    a, b = file_backend(path), file_backend(path)
    a.put("one", b"1")
    b.put("two", b"2")  # b re-reads before writing: "one" survives
    assert a.get("two") == b"2" and b.get("one") == b"1"
    a.delete("one")
    assert b.get("one") is None and file_backend(path).get("two") == b"2"


def test_file_wrong_passphrase_leaves_file_alone(tmp_path):
    path = tmp_path / "ks"
    file_backend(path).put("k", SECRET)
    before = path.read_bytes()
    with pytest.raises(KeystoreError, match="wrong passphrase"):
        file_backend(path, "Correct horse")
    assert path.read_bytes() == before
    assert file_backend(path).get("k") == SECRET


def test_file_created_later_by_someone_else_is_not_overwritten(tmp_path):
    path = tmp_path / "ks"
    mine = file_backend(path, "mine")
    file_backend(path, "theirs").put("k", b"theirs")
    before = path.read_bytes()
    with pytest.raises(KeystoreError, match="wrong passphrase"):
        mine.put("k", b"mine")
    with pytest.raises(KeystoreError):
        mine.get("k")
    assert path.read_bytes() == before


def _corruptions(good: bytes):
    magic = b"KBAPP-KEYSTORE\n"
    header = unpack(good[len(magic):])
    box = bytearray(header["box"])
    box[-1] ^= 1
    yield "empty", b""
    yield "garbage", os.urandom(100)
    yield "truncated", good[: len(good) // 2]
    yield "no magic", good[len(magic):]
    yield "flipped box", magic + pack({**header, "box": bytes(box)})
    yield "version", magic + pack({**header, "v": 9})
    yield "huge memlimit", magic + pack({**header, "mem": 1 << 40})
    yield "short salt", magic + pack({**header, "salt": b"x"})
    yield "not a map", magic + pack([1, 2])


def test_file_corrupt_is_reported_and_untouched(tmp_path):
    path = tmp_path / "ks"
    file_backend(path).put("k", SECRET)
    good = path.read_bytes()
    for label, bad in _corruptions(good):
        path.write_bytes(bad)
        with pytest.raises(KeystoreError) as e:
            file_backend(path)
        assert "corrupt" in str(e.value) or "wrong passphrase" in str(e.value), label
        assert path.read_bytes() == bad, label


def test_file_corrupted_while_open_is_not_overwritten(tmp_path):
    path = tmp_path / "ks"
    be = file_backend(path)
    be.put("k", SECRET)
    path.write_bytes(b"KBAPP-KEYSTORE\nrubbish")
    with pytest.raises(KeystoreError, match="corrupt"):
        be.put("k2", SECRET)
    assert path.read_bytes() == b"KBAPP-KEYSTORE\nrubbish"


def test_file_permissions_tightened(tmp_path):
    path = tmp_path / "ks"
    file_backend(path).put("k", SECRET)
    os.chmod(path, 0o644)
    assert file_backend(path).get("k") == SECRET
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_file_passphrase_rules(tmp_path):
    for bad in ("", None, b"bytes"):
        with pytest.raises(KeystoreError):
            EncryptedFileBackend(tmp_path / "ks", bad, kdf_limits=FAST)
    # NFC and NFD spellings of the same passphrase open the same file
    file_backend(tmp_path / "ks", "caf\u00e9").put("k", SECRET)
    assert file_backend(tmp_path / "ks", "cafe\u0301").get("k") == SECRET


def test_file_default_kdf_is_at_least_moderate():
    ops, mem = DEFAULT_FILE_KDF  # captured before the fixture swaps in FAST
    assert ops >= nacl.pwhash.argon2id.OPSLIMIT_MODERATE
    assert mem >= nacl.pwhash.argon2id.MEMLIMIT_MODERATE


# --- OS keyring ---------------------------------------------------------------------


def test_keyring_usable_detection(monkeypatch, dict_keyring):
    assert keyring_usable() and keyring_usable(dict_keyring)
    assert not keyring_usable(fail.Keyring())
    assert not keyring_usable(null.Keyring())
    assert not keyring_usable(PlaintextishKeyring())
    monkeypatch.setattr(keyring.backend, "get_all_keyring", lambda: [])
    assert not keyring_usable(chainer.ChainerBackend())
    monkeypatch.setattr(keyring.backend, "get_all_keyring", lambda: [fail.Keyring(), null.Keyring()])
    assert not keyring_usable(chainer.ChainerBackend())
    monkeypatch.setattr(keyring.backend, "get_all_keyring", lambda: [DictKeyring()])
    assert keyring_usable(chainer.ChainerBackend())


def test_keyring_backend_stores_base64_under_profile_service(tmp_path, dict_keyring):
    store = open_keystore(tmp_path / "p", backend="keyring")
    assert store.kind == "keyring"
    store.put("device/u", SECRET)
    service = profile_namespace(tmp_path / "p")
    assert service.startswith("kbapp-") and str(tmp_path) not in service
    assert dict_keyring.store[(service, "device/u")] == base64.b64encode(SECRET).decode()
    assert open_keystore(tmp_path / "other", backend="keyring").get("device/u") is None
    dict_keyring.store[(service, "bad")] = "not base64!"
    with pytest.raises(KeystoreError, match="corrupt"):
        store.get("bad")


def test_keyring_unusable_is_explained(tmp_path):
    with pytest.raises(KeystoreError, match="KBAPP_KEYSTORE=file"):
        open_keystore(tmp_path, backend="keyring")


def test_keyring_errors_become_keystore_errors(tmp_path, dict_keyring, monkeypatch):
    from keyring.errors import KeyringLocked

    def locked(*a):
        raise KeyringLocked("locked")

    store = open_keystore(tmp_path, backend="keyring")
    monkeypatch.setattr(dict_keyring, "get_password", locked)
    monkeypatch.setattr(dict_keyring, "set_password", locked)
    monkeypatch.setattr(dict_keyring, "delete_password", locked)
    for call in (lambda: store.get("k"), lambda: store.put("k", b"v"), lambda: store.delete("k")):
        with pytest.raises(KeystoreError, match="OS keyring"):
            call()


# --- choosing a backend -------------------------------------------------------------


STRONG = "plover-quartz-veranda"  # passes the new-passphrase rule (kbapp/client/passphrase.py)


def test_default_is_file_without_a_keyring(tmp_path, monkeypatch):
    with pytest.raises(KeystoreError, match="KBAPP_PASSPHRASE"):
        open_keystore(tmp_path)
    store = open_keystore(tmp_path, passphrase=STRONG)
    assert store.kind == "file"
    store.put("k", SECRET)
    assert (tmp_path / ks.KEYSTORE_FILE).exists()
    monkeypatch.setenv("KBAPP_PASSPHRASE", STRONG)
    assert open_keystore(tmp_path).get("k") == SECRET
    monkeypatch.setenv("KBAPP_PASSPHRASE", "wrong")
    with pytest.raises(KeystoreError, match="wrong passphrase"):
        open_keystore(tmp_path)


def test_default_is_keyring_when_usable(tmp_path, dict_keyring):
    assert open_keystore(tmp_path / "fresh").kind == "keyring"


def test_existing_file_wins_over_keyring(tmp_path, dict_keyring):
    open_keystore(tmp_path, backend="file", passphrase=STRONG).put("k", SECRET)
    store = open_keystore(tmp_path, passphrase=STRONG)
    assert store.kind == "file" and store.get("k") == SECRET


def test_env_chooses_backend(tmp_path, monkeypatch):
    monkeypatch.setenv("KBAPP_KEYSTORE", "memory")
    assert open_keystore(tmp_path).kind == "memory"
    assert open_keystore(tmp_path, backend="file", passphrase=STRONG).kind == "file"  # argument wins
    monkeypatch.setenv("KBAPP_KEYSTORE", "vault")
    with pytest.raises(KeystoreError, match="unknown keystore backend 'vault'"):
        open_keystore(tmp_path)
