"""Write a SQLite file as plain SQL (schema, then rows), FTS5 tables as their CREATE and
INSERTs (not their shadow tables): how the fixtures in this folder were made.

    python tests/data/profiles/dump_sqlite.py FILE.sqlite3 > NAME.sql
"""

import sqlite3
import sys


def dump(path: str) -> str:
    db = sqlite3.connect(path)
    out = ["-- made by dump_sqlite.py; schema and rows as the old release left them",
           f"PRAGMA user_version = {db.execute('PRAGMA user_version').fetchone()[0]};", "BEGIN;"]
    virtual = [n for n, s in db.execute("SELECT name, sql FROM sqlite_master WHERE type='table'")
               if s and s.upper().startswith("CREATE VIRTUAL")]
    shadow = tuple(v + "_" for v in virtual)
    tables = db.execute("SELECT name, sql FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' "
                        "ORDER BY name").fetchall()
    for name, sql in tables:
        if name.startswith(shadow):
            continue
        out.append(sql.strip() + ";")
        cols = [r[1] for r in db.execute(f'PRAGMA table_info("{name}")')]
        sel = ["rowid", *cols] if name in virtual else cols
        joined = " || ', ' || ".join(f'quote("{c}")' for c in sel)
        for (row,) in db.execute(f'SELECT {joined} FROM "{name}" ORDER BY rowid'):
            target = f'"{name}"(rowid, {", ".join(cols)})' if name in virtual else f'"{name}"'
            out.append(f"INSERT INTO {target} VALUES({row});")
    for (sql,) in db.execute("SELECT sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL ORDER BY name"):
        out.append(sql.strip() + ";")
    out.append("COMMIT;")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.stdout.write(dump(sys.argv[1]))
