"""Per-conversation choices this profile keeps for itself (never sent, never synced).

Today one: how sensitive images (the photo library's NSFW band "review" or "nsfw", or not
checked yet) show in a conversation: blurred until clicked (the default) or shown. Kept in
the chat store's `meta` table (a key per conversation), so it outlives a restart without a
migration; read and written on the store's db thread.
"""

from __future__ import annotations

from kbapp.core import errors

BLUR, SHOW = "blur", "show"
CHOICES = (BLUR, SHOW)


def _key(conv_id: str) -> str:
    return f"sensitive_images:{conv_id}"


async def sensitive_images(svc, conv_id: str) -> str:
    """BLUR or SHOW for this conversation (BLUR unless the user chose SHOW here)."""
    await svc.open()
    return SHOW if await svc.store.aio.meta(_key(conv_id)) == SHOW else BLUR


async def set_sensitive_images(svc, conv_id: str, choice: str) -> str:
    if choice not in CHOICES:
        raise errors.InvalidChatInput(f"sensitive images are 'blur' or 'show', not {choice!r}")
    await svc.open()
    await svc.store.aio.set_meta(_key(conv_id), choice)
    return choice
