"""Images in chat and the photo library (issue 14), with a real server process on 127.0.0.1
and the real tagging model (MobileNetV2):

* bob uploads a dog photo to acme#general: the attachment body carries an encrypted preview
  (its own signencrypted blob), 320 px at most, with no metadata left (EXIF, ICC);
* alice's sync fetches and checks the preview, keeps it in her profile's chat cache and hands
  it to her photo library: `photos search dog` finds it and says where it came from (bob, in
  acme#general, its msg id); bob's own sent image is indexed the same way;
* the server's blob store never holds the preview's plaintext;
* bob deletes the message: on both devices the cached preview, the photo index entry and its
  origin are gone.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from kbapp.client.chat import media

from e2e_support import signup_all
from photo_support import DEV, need_model

pytestmark = pytest.mark.timeout(300)
DOG = "ILSVRC2012_val_00000355.JPEG"      # a chow (ImageNet class 260): tagged dog


def _with_analyzer(app, analyzer) -> None:
    from kbapp.ml.library import PhotoLibrary
    app.photos._factory = lambda home: PhotoLibrary.open(home, analyzer=analyzer)


def _files_holding(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


async def test_a_dog_posted_in_a_channel_is_found_in_photos_with_its_origin_and_leaves_on_delete(
        server_factory, tmp_path, apps, photo_analyzer):
    need_model()
    srv = server_factory()
    u = await signup_all(apps, tmp_path, srv.url, ("alice", "bob"))
    alice, bob = u["alice"], u["bob"]
    for app in (alice, bob):
        _with_analyzer(app, photo_analyzer)
    await alice.create_team("acme")
    await alice.add_member("acme", "bob", "writer")
    await alice.chat.send("acme#general", "show us your dog")

    photo = tmp_path / "rex.jpg"                 # bigger than a preview, with EXIF that must not travel on
    with Image.open(DEV / "images" / DOG) as im:
        exif = Image.Exif()
        exif[0x010F] = "SecretCam"               # Make
        im.convert("RGB").resize((908, 681)).save(photo, "JPEG", quality=90, exif=exif)
    sent = await bob.chat.upload("acme#general", photo)
    assert sent.state == "sent"

    view = await alice.chat.read("acme#general", sync=True)
    msg = [m for m in view.messages if m.msg_id == sent.msg_id][0]
    row = await alice.chat.store.aio.message(view.conv.conv_id, sent.msg_id)
    pv = row.body["preview"]
    assert pv is not None and pv["mime"] == "image/jpeg" and pv["blob_id"] != row.body["blob_id"]
    assert max(pv["meta"]["width"], pv["meta"]["height"]) <= media.PREVIEW_PX and msg.status == "ok"

    cached = media.of(alice.chat).path_of(view.conv.conv_id, sent.msg_id)
    assert cached.is_file() and (cached.stat().st_mode & 0o077) == 0
    with Image.open(cached) as im:
        assert max(im.size) == media.PREVIEW_PX and not im.getexif() and "icc_profile" not in im.info
    preview_bytes = cached.read_bytes()
    assert b"SecretCam" in photo.read_bytes() and b"SecretCam" not in preview_bytes
    # the server holds the preview encrypted only (blobs and database alike)
    assert _files_holding(srv.data_dir, preview_bytes[200:264]) == []

    hits = await alice.photos.search("dog")
    chat_hits = [h for h in hits if h.origin]
    assert [Path(h.path) for h in chat_hits] == [cached.resolve()]
    assert chat_hits[0].origin == {"source": "chat", "conv": "acme#general", "conv_id": view.conv.conv_id,
                                   "msg_id": sent.msg_id, "sender": "bob"}
    assert "dog" in chat_hits[0].tags
    # `kbapp photos search dog` (its own process, the same profile) says where it came from
    env = dict(os.environ, KBAPP_KEYSTORE="memory")
    text = subprocess.run([sys.executable, "-m", "kbapp", "--home", str(alice.home), "photos", "search", "dog"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert text.returncode == 0, text.stderr
    assert f"from bob in acme#general (#{sent.msg_id})" in text.stdout and str(cached.resolve()) in text.stdout
    mine = [h for h in await bob.photos.search("dog") if h.origin]                 # the sender's copy too
    assert [(h.origin["conv"], h.origin["sender"], h.origin["msg_id"]) for h in mine] == \
        [("acme#general", "bob", sent.msg_id)]

    # deleted: every local copy goes (cache file, photo index row, origin), on both sides
    await bob.chat.delete("acme#general", sent.msg_id)
    await alice.chat.read("acme#general", sync=True)
    for app in (alice, bob):
        gone = media.of(app.chat).path_of(view.conv.conv_id, sent.msg_id)
        assert not gone.exists()
        assert [h for h in await app.photos.search("dog") if h.origin] == []
        assert await app.photos.count() == 0
        assert _files_holding(app.home / "chat-media", preview_bytes[200:264]) == []


async def test_an_image_sent_without_a_preview_is_indexed_once_downloaded(server_factory, tmp_path, apps,
                                                                          photo_analyzer):
    """Another client (or a bot) may send an image with no preview: the reader's download makes
    one, keeps it and indexes it with its origin; the delete removes it like any other."""
    from kbapp.client.chat import transfer

    need_model()
    srv = server_factory()
    u = await signup_all(apps, tmp_path, srv.url, ("alice", "bob"))
    alice, bob = u["alice"], u["bob"]
    _with_analyzer(alice, photo_analyzer)
    photo = tmp_path / "rex.jpg"
    with Image.open(DEV / "images" / DOG) as im:
        im.convert("RGB").resize((640, 480)).save(photo, "JPEG", quality=90)
    await bob.chat.send("alice,bob", "no preview from my bot")
    row = await bob.chat.conv("alice,bob")
    ref = await transfer.upload(bob.api, photo, rng=bob.ctx.rng)
    sent = await bob.chat._enqueue(row, bob.chat._body("attachment", **ref.to_body()))   # preview: None
    view = await alice.chat.read("alice,bob", sync=True)
    cached = media.of(alice.chat).path_of(view.conv.conv_id, sent.msg_id)
    assert not cached.exists() and [h for h in await alice.photos.search("dog") if h.origin] == []

    got = await alice.chat.download("alice,bob", sent.msg_id, tmp_path / "saved.jpg")
    assert Path(got).read_bytes() == photo.read_bytes() and cached.is_file()
    [hit] = [h for h in await alice.photos.search("dog") if h.origin]
    assert (hit.origin["conv"], hit.origin["sender"], hit.origin["msg_id"]) == ("alice,bob", "bob", sent.msg_id)

    await bob.chat.delete("alice,bob", sent.msg_id)
    await alice.chat.read("alice,bob", sync=True)
    assert not cached.exists() and await alice.photos.count() == 0
    assert Path(got).exists()                  # the copy the user saved is theirs: left alone
