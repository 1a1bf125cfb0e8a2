"""What the chat service hands the CLI and the GUI: plain dataclasses, and its events.

Text in here came from other people: it is plain text, never markup (the GUI shows it
with Qt.PlainText, the CLI prints it as is).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..events import Event


@dataclass(frozen=True)
class ConvView:
    name: str                 # alice,bob | acme#general
    conv_id: str
    team_id: str
    kind: str                 # implicit | team
    channel: str
    topic: str
    unread: int
    muted: bool
    last_msg_id: int
    read_upto: int
    pending: int = 0          # outbox entries not yet sent
    failed: int = 0
    mentions: int = 0         # unread messages that mention you (or @channel / @here)


@dataclass(frozen=True)
class MessageView:
    msg_id: int | None        # None: still in the outbox
    sender: str
    type: str
    text: str | None
    ctime: int
    status: str               # ok | withheld | bad | pending | sending | failed | sent
    error_code: str | None = None
    error: str | None = None
    edited: bool = False
    reply_to: int | None = None
    thread_root: int | None = None
    replies: int = 0          # messages in the thread this one roots
    reactions: dict = field(default_factory=dict)   # emoji -> [usernames]
    attachment: dict | None = None                  # name, mime, size, blob_id (keys left out)
    outbox_id: str | None = None
    explodes_at: int | None = None                  # exploding: compose_time + lifetime (sender's clock)
    edit_pending: bool = False                      # our edit is queued: `text` is what it will read


@dataclass(frozen=True)
class Problem:
    """Something the reader rules found: a gap, a withheld body, a bad message (by code)."""

    msg_id: int
    code: str
    message: str


@dataclass(frozen=True)
class ConvTimeline:
    conv: ConvView
    messages: list
    problems: list
    thread: int | None = None
    pins: list = field(default_factory=list)      # pinned msg ids, oldest pin first
    headline: str | None = None                   # the latest valid headline message's text


@dataclass(frozen=True)
class SendResult:
    conv: str
    outbox_id: str
    state: str                # sent | pending | failed
    msg_id: int | None
    error: str | None = None
    retryable: bool = True    # False: refused for good (403/409); `retry` will not send it


@dataclass(frozen=True)
class SearchResult:
    conv: str
    conv_id: str
    msg_id: int
    sender: str
    text: str
    snippet: str
    ctime: int


@dataclass(frozen=True)
class ChatMessagesChanged(Event):
    """A sync stored new verified messages (or problems) in a conversation."""

    conv_id: str
    name: str
    upto: int
    problems: int = 0


@dataclass(frozen=True)
class ChatOutboxChanged(Event):
    """An outbox entry moved (pending, sent, failed)."""

    conv_id: str
    outbox_id: str
    state: str


@dataclass(frozen=True)
class ChatTyping(Event):
    """A member is typing in a conversation (a push hint: the server could make it up or
    drop it; shown for a few seconds, never stored). `username` is from verified state."""

    conv_id: str
    uid: str
    username: str
