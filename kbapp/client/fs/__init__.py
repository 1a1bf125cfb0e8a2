"""The client side of encrypted folders: the local journal, the upload, verified reads (issue 16)."""

from .service import FilesService

__all__ = ["FilesService"]
