"""Encrypted folders (KBFS-like): pure formats and reader rules, no I/O, no clock, no Qt.

- names.py     folder names on teams, path components, the export check
- blocks.py    KBFS block crypto v2: pointers, padding, seal/open, dedup tags
- tree.py      files as direct or indirect (two-level) block trees: streaming writer, reader
- dirs.py      directory entries (strict, canonical), lookup and a capped walk
- revision.py  the signed revision: format, sealed private part (root + ops), ids
- judge.py     the reader's rules over a folder's revisions (rollback, gap, fork, writers)
- conflict.py  KBFS's merge of two offline branches over op lists, or a parked branch

docs/protocol.md "Encrypted folders" is the reference; docs/folders-plan.md says how the
server, journal and CLI will use this.
"""
