"""Images in encrypted folders reach the photo library (client/fs/photos.py), with a real server
process and the real tagging model: alice writes a dog photo into /private/alice,bob; after
bob's verified sync the hand-off indexes a metadata-free preview kept 0600 in his profile, and
`photos search dog` says which folder it is from. A `.jpg` that is no image is skipped; a file
that leaves the folder leaves the index.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from kbapp.client.fs import photos as fs_photos
from kbapp.ml import origins

from e2e_support import signup_all
from photo_support import DEV, need_model

pytestmark = pytest.mark.timeout(300)
DOG = "ILSVRC2012_val_00000355.JPEG"
FOLDER = "/private/alice,bob"


def _with_analyzer(app, analyzer) -> None:
    from kbapp.ml.library import PhotoLibrary
    app.photos._factory = lambda home: PhotoLibrary.open(home, analyzer=analyzer)


async def test_a_dog_written_to_a_folder_is_found_with_its_folder(server_factory, tmp_path, apps, photo_analyzer):
    need_model()
    srv = server_factory()
    u = await signup_all(apps, tmp_path, srv.url, ("alice", "bob"))
    alice, bob = u["alice"], u["bob"]
    _with_analyzer(bob, photo_analyzer)
    out = io.BytesIO()
    with Image.open(DEV / "images" / DOG) as im:
        exif = Image.Exif()
        exif[0x010F] = "SecretCam"
        im.convert("RGB").resize((800, 600)).save(out, "JPEG", quality=90, exif=exif)
    await alice.files.write(f"{FOLDER}/pics/rex.jpg", out.getvalue())
    await alice.files.write(f"{FOLDER}/pics/not-a-photo.jpg", b"just text, named like a photo")
    await alice.files.write(f"{FOLDER}/notes.txt", b"no image")

    # bob's verified sync hands the new images on (the engine's hook), indexed in the background
    assert await bob.files.read(f"{FOLDER}/notes.txt") == b"no image"
    await fs_photos.settled(bob.files)
    assert fs_photos._load_state(fs_photos._cache_dir(bob.home, (await bob.files._folder_of(FOLDER)).folder_id))
    hits = [h for h in await bob.photos.search("dog") if h.origin]
    assert len(hits) == 1 and "dog" in hits[0].tags
    o = hits[0].origin
    assert o["source"] == "folder" and o["conv"] == f"{FOLDER}/pics/rex.jpg" and o["sender"] == "alice"
    assert o["msg_id"] >= 1
    assert origins.describe(o).startswith(f"in {FOLDER}/pics/rex.jpg (revision ")
    cached = Path(hits[0].path)
    assert cached.is_relative_to(bob.home / fs_photos.CACHE) and (cached.stat().st_mode & 0o077) == 0
    with Image.open(cached) as im:
        assert not im.getexif() and max(im.size) <= 320
    assert b"SecretCam" not in cached.read_bytes()
    # nothing new: nothing read again
    assert await fs_photos.index_folder(bob.files, bob.photos, FOLDER) == {"indexed": 0, "forgotten": 0, "skipped": 0}

    await alice.files.rm(f"{FOLDER}/pics/rex.jpg")
    got = await fs_photos.index_folder(bob.files, bob.photos, FOLDER)
    assert got["forgotten"] == 1
    assert [h for h in await bob.photos.search("dog") if h.origin] == [] and not cached.exists()


def test_images_are_told_by_extension_and_magic():
    assert fs_photos.looks_like_image("a.JPG", b"\xff\xd8\xff\xe0")
    assert fs_photos.looks_like_image("a.webp", b"RIFF\0\0\0\0WEBPVP8 ")
    assert not fs_photos.looks_like_image("a.jpg", b"<html>")
    assert not fs_photos.looks_like_image("a.txt", b"\xff\xd8\xff\xe0")


async def test_a_dog_we_write_ourselves_gets_its_tags_too(server_factory, tmp_path, apps, photo_analyzer):
    """Our own upload hands its images on as well (the Files page shows tags for what we drop,
    not only for what others wrote)."""
    need_model()
    srv = server_factory()
    alice = (await signup_all(apps, tmp_path, srv.url, ("alice",)))["alice"]
    _with_analyzer(alice, photo_analyzer)
    out = io.BytesIO()
    with Image.open(DEV / "images" / DOG) as im:
        im.convert("RGB").resize((640, 480)).save(out, "JPEG", quality=90)
    await alice.files.write("/private/alice/rex.jpg", out.getvalue())
    await alice.files.sync(timeout=60)
    await fs_photos.settled(alice.files)
    hits = [h for h in await alice.photos.search("dog") if h.origin]
    assert len(hits) == 1 and hits[0].origin["conv"] == "/private/alice/rex.jpg"
