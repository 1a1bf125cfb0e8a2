"""The Chat page (issue 15): conversations, a painted timeline, threads, files, notifications."""

from .page import ChatPage

__all__ = ["ChatPage"]
