"""Chat messages (MB1): pure format and reader rules, no I/O, no clock, no Qt.

- ids.py       conversation and topic ids (derived, never chosen by the server)
- body.py      body kinds, strict validation, padding
- header.py    the signed header: build, pack, parse
- seal.py      chat keys, sign-then-encrypt of headers, sealed bodies, hashes, wire hints
- signencrypt.py attachments: chunked sign-then-encrypt with one-time keys (BLOBS)
- judge.py     the reader's rules 1-6: one verdict per message, incremental
- state.py     what the judge remembers (JudgeState) and its verdicts (Verdict), serialisable
- timeline.py  the fold of verified messages into what a reader sees

docs/protocol.md "Chat messages (MB1)" is the reference.
"""
