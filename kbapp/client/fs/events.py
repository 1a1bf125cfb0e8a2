"""Events of the folder engine, for the Files page (through the GUI's bridge) and tests.

`FolderChanged` says a folder's view moved (a verified revision from anyone, or a local
change journalled here): a page showing it re-lists. `FilesQueueChanged` says the upload
queue moved (a file saved, uploaded, failed, paused): the status line re-reads
`app.files.status()`. Both carry no file names: a listener asks the engine.
"""

from __future__ import annotations

from dataclasses import dataclass

from kbapp.client.events import Event


@dataclass(frozen=True)
class FolderChanged(Event):
    folder: str              # "/private/alice,bob"
    revision: int = 0        # the verified head now known (0: a local change)


@dataclass(frozen=True)
class FolderImagesIndexed(Event):
    """The photo library took a folder's new images (fs/photos.py hand-off): their tags and
    NSFW scores can be asked for now."""
    folder: str              # "/private/alice,bob"
    indexed: int = 0


@dataclass(frozen=True)
class FilesQueueChanged(Event):
    pending: int = 0
    pending_bytes: int = 0
    failed: int = 0
    paused: bool = False
