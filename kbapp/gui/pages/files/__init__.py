"""The Files page (issue 17): encrypted folders, drag and drop, history and sync status."""

from .page import FilesPage

__all__ = ["FilesPage"]
