"""Chat image previews from the attacker's side (kbapp/client/chat/media.py), with a real
server process on 127.0.0.1 and the real tagging model:

* the server swaps or cuts the preview blob on its disk: the reader's check fails
  (`ATTACHMENT_*`), nothing is cached or indexed, the message itself stays `ok`, the sync
  goes on; downloading the real image then makes the preview on the reader's side;
* a member sends a decompression bomb as the preview (honestly encrypted): it is fetched
  (it is small) but the photo library refuses to decode it; nothing is indexed, the chat
  goes on;
* a member names a preview bigger than a preview may be: it is not even fetched.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from kbapp.client.chat import media, transfer
from kbapp.core import errors
from kbapp.core.chat.body import PREVIEW_FIELDS

from photo_support import DEV, need_model

pytestmark = pytest.mark.timeout(300)
DOG = "ILSVRC2012_val_00000355.JPEG"


async def signup_all(apps, tmp_path, url, names):
    out = {}
    for n in names:
        app = await apps(tmp_path / n)
        await app.signup(n, server_url=url, device_name=f"{n}-laptop")
        out[n] = app
    return out


@pytest.fixture
async def apps():
    from kbapp.client.app import App
    from kbapp.client.keystore import open_keystore
    opened = []

    async def make(home):
        app = App(home, keystore=open_keystore(home, backend="memory"))
        await app.open()
        opened.append(app)
        return app
    yield make
    for app in opened:
        await app.close()


def _with_analyzer(app, analyzer) -> None:
    from kbapp.ml.library import PhotoLibrary
    app.photos._factory = lambda home: PhotoLibrary.open(home, analyzer=analyzer)


def _dog(tmp_path: Path) -> Path:
    photo = tmp_path / "rex.jpg"
    with Image.open(DEV / "images" / DOG) as im:
        im.convert("RGB").resize((640, 480)).save(photo, "JPEG", quality=90)
    return photo


async def _post_with_preview(app, conv: str, photo: Path, preview: dict) -> int:
    """What a hostile member's client posts: a real image with a preview of its choosing."""
    row = await app.chat.conv(conv, create=True)
    ref = await transfer.upload(app.api, photo, rng=app.ctx.rng)
    sent = await app.chat._enqueue(row, app.chat._body("attachment", **ref.to_body(), preview=preview))
    assert sent.state == "sent"
    return sent.msg_id


async def _preview_of(app, path: Path) -> dict:
    ref = await transfer.upload(app.api, path, name="preview.jpg", mime="image/jpeg", rng=app.ctx.rng)
    fields = ref.to_body({"width": 1, "height": 1})
    return {k: fields[k] for k in PREVIEW_FIELDS}


@pytest.mark.parametrize("attack", ["swapped", "truncated"])
async def test_the_server_alters_a_preview_blob(server_factory, tmp_path, apps, photo_analyzer, attack):
    need_model()
    srv = server_factory()
    u = await signup_all(apps, tmp_path, srv.url, ("alice", "bob"))
    alice, bob = u["alice"], u["bob"]
    _with_analyzer(alice, photo_analyzer)
    sent = await bob.chat.upload("alice,bob", _dog(tmp_path))
    row = await bob.chat.store.aio.message((await bob.chat.conv("alice,bob")).conv_id, sent.msg_id)
    pv = row.body["preview"]
    blob = srv.data_dir / "blobs" / pv["blob_id"][:2] / pv["blob_id"]
    if attack == "swapped":       # another valid blob (the image's own) under the preview's id
        other = srv.data_dir / "blobs" / row.body["blob_id"][:2] / row.body["blob_id"]
        blob.write_bytes(other.read_bytes())
    else:
        blob.write_bytes(blob.read_bytes()[:-10])

    view = await alice.chat.read("alice,bob", sync=True)                  # the sync goes on
    [m] = view.messages
    assert m.status == "ok" and m.type == "attachment" and not view.problems
    cached = media.of(alice.chat).path_of(view.conv.conv_id, sent.msg_id)
    assert not cached.exists() and not (alice.home / "photos" / "index.db").exists()
    with pytest.raises((errors.AttachmentTampered, errors.AttachmentTruncated, errors.AttachmentTrailingData,
                        errors.AttachmentHashMismatch)):
        ref = transfer.AttachmentRef.from_body({**pv, "name": "preview.jpg"})
        await transfer.download(alice.api, ref, tmp_path / "pv.jpg")
    assert not (tmp_path / "pv.jpg").exists()

    # the image itself is intact: downloading it makes the preview on alice's side
    await alice.chat.download("alice,bob", sent.msg_id, tmp_path / "saved.jpg")
    assert cached.is_file()
    assert [h.origin["msg_id"] for h in await alice.photos.search("dog") if h.origin] == [sent.msg_id]


async def test_a_member_sends_a_decompression_bomb_as_the_preview(server_factory, tmp_path, apps, photo_analyzer):
    need_model()
    srv = server_factory()
    u = await signup_all(apps, tmp_path, srv.url, ("alice", "bob"))
    alice, bob = u["alice"], u["bob"]
    _with_analyzer(alice, photo_analyzer)
    bomb = tmp_path / "bomb.png"
    Image.new("1", (16000, 16000)).save(bomb, "PNG")            # 256 Mpixel, a few hundred KB
    assert bomb.stat().st_size < media.MAX_PREVIEW_BYTES
    msg_id = await _post_with_preview(bob, "alice,bob", _dog(tmp_path), await _preview_of(bob, bomb))
    await bob.chat.send("alice,bob", "after the bomb")
    view = await alice.chat.read("alice,bob", sync=True)
    assert [m.status for m in view.messages] == ["ok", "ok"] and view.messages[-1].text == "after the bomb"
    assert await alice.photos.count() == 0                          # refused by the photo library
    assert [h for h in await alice.photos.search("dog") if h.origin] == []
    assert media.of(alice.chat).path_of(view.conv.conv_id, msg_id).is_file()   # fetched: it is small


async def test_a_preview_over_the_size_a_preview_may_have_is_not_fetched(server_factory, tmp_path, apps,
                                                                          monkeypatch):
    srv = server_factory()
    u = await signup_all(apps, tmp_path, srv.url, ("alice", "bob"))
    alice, bob = u["alice"], u["bob"]
    big = tmp_path / "big.jpg"
    big.write_bytes(b"\xff\xd8" + b"\0" * (media.MAX_PREVIEW_BYTES + 10))
    msg_id = await _post_with_preview(bob, "alice,bob", _dog(tmp_path), await _preview_of(bob, big))
    fetched = []
    real = transfer.download

    async def counting(api, ref, dest, **kw):
        fetched.append(ref.blob_id)
        return await real(api, ref, dest, **kw)
    monkeypatch.setattr(transfer, "download", counting)
    view = await alice.chat.read("alice,bob", sync=True)
    assert [m.status for m in view.messages] == ["ok"]
    assert fetched == [] and not media.of(alice.chat).path_of(view.conv.conv_id, msg_id).exists()
    assert not (alice.home / "photos" / "index.db").exists()
