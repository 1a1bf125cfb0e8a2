"""The client's local databases: one engine per file, one writer thread, migrations.

`Database` owns a SQLite file: its engine (WAL), the single thread every statement
runs on (so writes are serialised and none ever runs on the event loop's thread,
the GUI's), and its migrations, applied when it opens. `migrations` is the small
runner both the profile store and the photo index use.
"""

from .executor import Database
from .migrations import Step, migrate, schema_version

__all__ = ["Database", "Step", "migrate", "schema_version"]
