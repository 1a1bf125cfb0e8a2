"""Qt item models of the Teams page: the tree of your teams and subteams, a team's
members (role and identity badge), and pending join requests.

Team names, usernames and reasons come from chains and the server: views show
them as plain text, like every other model here (each is checked with
pytest-qt's `qtmodeltester`).
"""

from __future__ import annotations

from PySide6.QtCore import QAbstractItemModel, QAbstractListModel, QModelIndex, \
    QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont

from kbapp.client.models import JoinRequestView, TeamInviteView, TeamListItem, TeamMemberView

from . import theme
from .assets import icon
from .plain import plain_tip
from .models import HeaderTableModel, ObjectRole, short_date
from .widgets import Badge

_Index = QModelIndex | QPersistentModelIndex
NameRole = Qt.UserRole + 10     # the team's full name (`acme.eng`)

ROLE_ORDER = ("owner", "admin", "writer", "reader")


def is_admin_role(role: str) -> bool:
    return role in ("owner", "admin")


# -- the tree ------------------------------------------------------------------------------------


class _Node:
    __slots__ = ("name", "item", "parent", "children")

    def __init__(self, name: str, parent: _Node | None):
        self.name = name                       # full name; "" for the invisible root
        self.item: TeamListItem | None = None  # None: a team we are not a member of (a parent we only
        self.parent = parent                   #       know by name, a subteam seen in a parent's list)
        self.children: list[_Node] = []

    @property
    def segment(self) -> str:
        return self.name.rsplit(".", 1)[-1]

    def row(self) -> int:
        return self.parent.children.index(self) if self.parent is not None else 0


class TeamTreeModel(QAbstractItemModel):
    """Teams as a tree by name (`acme` > `acme.eng` > `acme.eng.web`), two columns: the
    team and your role in it. Subteams you administer through a parent (list_teams marks
    them `implicit_admin`) show "admin (via parent)"; teams you only know by name (a parent
    of one of yours) are greyed."""

    HEADERS = ("Team", "Your role")

    def __init__(self, parent=None):
        super().__init__(parent)
        self._root = _Node("", None)
        self._by_name: dict[str, _Node] = {}

    # -- building --

    def set_teams(self, items: list[TeamListItem], known: tuple[str, ...] | set[str] = ()) -> None:
        """Rebuild from `list_teams()` (implicit ad-hoc teams are left out: they are
        conversations, not teams you manage) plus `known` team names."""
        self.beginResetModel()
        self._root = _Node("", None)
        self._by_name = {}
        named = [i for i in items if not i.implicit]
        for name in sorted({i.name for i in named} | set(known)):
            self._ensure(name)
        for i in named:
            self._by_name[i.name].item = i
        self.endResetModel()

    def _ensure(self, name: str) -> _Node:
        node = self._by_name.get(name)
        if node is not None:
            return node
        parent = self._ensure(name.rsplit(".", 1)[0]) if "." in name else self._root
        node = _Node(name, parent)
        parent.children.append(node)
        parent.children.sort(key=lambda n: n.name)
        self._by_name[name] = node
        return node

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def item(self, name: str) -> TeamListItem | None:
        node = self._by_name.get(name)
        return node.item if node is not None else None

    def index_of(self, name: str, column: int = 0) -> QModelIndex:
        node = self._by_name.get(name)
        if node is None:
            return QModelIndex()
        return self.createIndex(node.row(), column, node)

    # -- the model --

    def _node(self, index: _Index) -> _Node:
        return index.internalPointer() if index.isValid() else self._root

    def index(self, row: int, column: int, parent: _Index = QModelIndex()) -> QModelIndex:
        if column < 0 or column >= len(self.HEADERS) or (parent.isValid() and parent.column() != 0):
            return QModelIndex()
        p = self._node(parent)
        if not 0 <= row < len(p.children):
            return QModelIndex()
        return self.createIndex(row, column, p.children[row])

    def parent(self, index: _Index = QModelIndex()) -> QModelIndex:  # type: ignore[override]
        if not index.isValid():
            return QModelIndex()
        node: _Node = index.internalPointer()
        p = node.parent
        if p is None or p is self._root:
            return QModelIndex()
        return self.createIndex(p.row(), 0, p)

    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        if parent.isValid() and parent.column() != 0:
            return 0
        return len(self._node(parent).children)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:
        return len(self.HEADERS)

    def headerData(self, section: int, orientation, role: int = Qt.DisplayRole):
        if orientation == Qt.Horizontal and role == Qt.DisplayRole and 0 <= section < len(self.HEADERS):
            return self.HEADERS[section].upper()
        return None

    def flags(self, index: _Index):
        if not index.isValid():
            return Qt.NoItemFlags
        return Qt.ItemIsEnabled | Qt.ItemIsSelectable

    def data(self, index: _Index, role: int = Qt.DisplayRole):
        if not index.isValid():
            return None
        node: _Node = index.internalPointer()
        it, col = node.item, index.column()
        if role == Qt.DisplayRole:
            if col == 0:
                return node.segment
            if it is None:
                return "—"
            return "admin (via parent)" if it.implicit_admin else it.role
        if role == Qt.DecorationRole and col == 0:
            return icon("teams", theme.colour("text-muted" if it is not None else "text-faint"))
        if role == Qt.ToolTipRole:
            if it is None:
                return plain_tip(f"{node.name}\nyou are not a member (you may administer it through a parent team)")
            if it.implicit_admin:
                n = f"{it.members} member{'s' if it.members != 1 else ''}"
                return plain_tip(f"{node.name}\nyou administer it as an admin of a parent team (not a member) · "
                                 f"{n} · key generation {it.generation}")
            return plain_tip(f"{node.name}\nyou are {it.role} · {it.members} member{'s' if it.members != 1 else ''}"
                             f" · key generation {it.generation}")
        if role == Qt.ForegroundRole:
            if it is None:
                return QBrush(QColor(theme.colour("text-faint")))
            if col == 1 or it.implicit_admin:
                return QBrush(QColor(theme.colour("text-muted")))
        if role == Qt.FontRole and col == 0 and it is not None and is_admin_role(it.role) and not it.implicit_admin:
            f = QFont()
            f.setBold(True)
            return f
        if role == NameRole:
            return node.name
        if role == ObjectRole:
            return it
        if role == Qt.AccessibleTextRole and col == 0:
            if it is not None and it.implicit_admin:
                return f"team {node.name}, you are an admin through a parent team"
            return f"team {node.name}" + (f", you are {it.role}" if it is not None else ", not a member")
        return None


# -- members -------------------------------------------------------------------------------------


class TeamMemberModel(HeaderTableModel):
    """A team's members: username, role, and their identity check as the People page's
    badge says it (Verified in green, Broken in red with the reason as tooltip)."""

    ROWS = "members"
    HEADERS = ("Member", "Role", "Identity")
    ROLE_COL, BADGE_COL = 1, 2

    def __init__(self, parent=None):
        super().__init__(parent)
        self.members: list[TeamMemberView] = []
        self.me = ""

    def set_members(self, members: list[TeamMemberView], me: str = "") -> None:
        self.beginResetModel()
        rank = {r: i for i, r in enumerate(ROLE_ORDER)}
        self.members = sorted(members, key=lambda m: (m.implicit_admin, rank.get(m.role, len(rank)), m.username))
        self.me = me
        self.endResetModel()

    def row_of(self, username: str) -> int:
        return next((i for i, m in enumerate(self.members) if m.username == username), -1)

    @staticmethod
    def role_text(m: TeamMemberView) -> str:
        return "admin (via parent team)" if m.implicit_admin else m.role

    @staticmethod
    def badge_text(m: TeamMemberView) -> str:
        return Badge.TEXT.get(m.badge, Badge.TEXT["checking"])[2]

    def data(self, index: _Index, role: int = Qt.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self.members):
            return None
        m, col = self.members[index.row()], index.column()
        if role == Qt.DisplayRole:
            name = f"{m.username} (you)" if m.username == self.me else m.username
            return (name, self.role_text(m), self.badge_text(m))[col]
        if role == Qt.DecorationRole:
            if col == 0:
                return icon("people", theme.colour("text-muted"))
            if col == self.BADGE_COL:
                name, token, _ = Badge.TEXT.get(m.badge, Badge.TEXT["checking"])
                return icon(name, theme.colour(token))
        if role == Qt.ForegroundRole:
            if col == self.BADGE_COL:
                token = Badge.TEXT.get(m.badge, Badge.TEXT["checking"])[1]
                return QBrush(QColor(theme.colour(token)))
            if col == self.ROLE_COL:
                return QBrush(QColor(theme.colour("text" if is_admin_role(m.role) else "text-muted")))
        if role == Qt.FontRole and (col == self.BADGE_COL or (col == 0 and m.username == self.me)):
            f = QFont()
            f.setBold(True)
            return f
        if role == Qt.ToolTipRole:
            if col == self.BADGE_COL:
                if m.badge == "broken":
                    return plain_tip(f"Broken: {m.reason}") if m.reason else "Broken: the identity check failed"
                return "Verified: their chain checked out against the transparency log, and no proof is broken"
            if m.implicit_admin:
                return plain_tip(f"{m.username} administers this team as an admin of a parent team")
            return plain_tip(f"{m.username}, {m.role} since team link {m.since_seqno}\nuid {m.uid}")
        if role == Qt.AccessibleTextRole and col == self.BADGE_COL:
            return f"{self.badge_text(m)}{': ' + m.reason if m.reason else ''}"
        if role == ObjectRole:
            return m
        return None


# -- join requests -------------------------------------------------------------------------------


class _RowsModel(QAbstractListModel):
    """A flat list of view objects, each shown as one line with an icon and a tooltip."""

    ICON = "people"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list = []

    def set_rows(self, rows) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def text(self, item) -> str:
        raise NotImplementedError

    def tooltip(self, item) -> str:
        raise NotImplementedError

    def data(self, index: _Index, role: int = Qt.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self.rows):
            return None
        item = self.rows[index.row()]
        if role == Qt.DisplayRole:
            return self.text(item)
        if role == Qt.DecorationRole:
            return icon(self.ICON, theme.colour("text-muted"))
        if role == Qt.ToolTipRole:   # invite assertions, request notes: anyone's text
            return plain_tip(self.tooltip(item))
        if role == ObjectRole:
            return item
        return None


class JoinRequestModel(_RowsModel):
    """Pending requests to join a closed team (only those whose signature checked out)."""

    def set_requests(self, requests: list[JoinRequestView]) -> None:
        self.set_rows(requests)

    @property
    def requests(self) -> list[JoinRequestView]:
        return self.rows

    def text(self, r: JoinRequestView) -> str:
        when = short_date(r.created)
        return f"{r.username} asks to join{' · ' + when if when else ''}"

    def tooltip(self, r: JoinRequestView) -> str:
        return f"{r.username} (uid {r.uid}): the request is signed by one of their devices"


class InviteModel(_RowsModel):
    """A team's pending invites, as its chain holds them: a user who has not accepted yet,
    `bob@github` waiting for bob to prove GitHub, or a token not used yet."""

    ICON = "link"

    @staticmethod
    def subject(i: TeamInviteView) -> str:
        """Whom the invite is for, in a few words ("carol@github", "token ab12cd34")."""
        if i.type == "seitan":
            return f"token {i.id[:8]}"
        if i.type == "keybase":   # name: uid%eldest_seqno, a user whose keys are not ready yet
            return f"user {i.name.split('%')[0][:12]}…"
        return f"{i.name}@{i.type}"

    def text(self, i: TeamInviteView) -> str:
        if i.type == "seitan":
            return f"A token · joins as {i.role} · invite {i.id[:8]}"
        tail = " once they prove it" if i.type != "keybase" else ""
        return f"{self.subject(i)} · joins as {i.role}{tail}"

    def tooltip(self, i: TeamInviteView) -> str:
        if i.type == "seitan":
            return ("Whoever holds this token joins when they accept it; the token itself was shown only once. "
                    f"Invite id {i.id}")
        if i.type == "keybase":
            return f"The user {i.name} is added as {i.role} once their keys are ready. Invite id {i.id}"
        return (f"Whoever proves the {i.type} account {i.name!r} is added as {i.role} by an admin's kbapp. "
                f"Invite id {i.id}")
