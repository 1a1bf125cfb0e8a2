"""Uploading the journal: pending ops squashed into revisions, a background task, its queue numbers.

A batch is the oldest pending rows of one folder made on the same verified head (`base`), at
most `revision.MAX_OPS` ops or `MAX_BATCH_BYTES` of content: one revision each. Per batch:
sync and judge the folder; if revisions from others landed after `base`, the local ops are
merged over them (`conflict.merge`: the remote branch stays, local writes of the same name are
kept under KBFS's conflict name, or the batch is *parked* as a read-only
"(local conflicted copy DATE)" view); the ops are applied to the verified head (overlay.py),
the changed directories sealed, the revision signed; its id is stored on the rows *before*
the POST, so after a crash a revision found among the verified ones (or a 409 naming it) is
known accepted. Blocks are sent first (idempotent; in batches, several at once:
block_transfer.py), then the revision by compare-and-swap;
a lost CAS is judged and merged again. Accepted: rows `uploaded`, their blocks moved from
the journal into the block cache.

The background task (`start()`, asyncio, never Qt) retries transient failures with backoff;
`pause`/`resume`/`cancel` and the numbers `status()` shows live here.
"""

from __future__ import annotations

import asyncio
import time

from kbapp.core import errors
from kbapp.core.fs.revision import MAX_OPS

MAX_BATCH_BYTES = 25 << 20
MAX_BATCH_META = 600_000               # estimated op bytes: the envelope must fit the server's 1 MiB body cap
BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0)


def batches(rows, max_ops: int = MAX_OPS, max_bytes: int = MAX_BATCH_BYTES) -> list[list]:
    """Pending rows (oldest first) cut into upload batches: one folder and one base each,
    at most `max_ops` rows and `max_bytes` of content (a bigger single row goes alone).
    Folders are independent, so rows are grouped per folder (their order kept within it)."""
    out: list[list] = []
    data = meta = 0
    first: dict[str, int] = {}
    for i, r in enumerate(rows):
        first.setdefault(r.folder, i)
    for r in sorted(rows, key=lambda r: first[r.folder]):
        cur = out[-1] if out else None
        size = r.size if r.op == "write" else 0
        cost = 200 + sum(len(c.encode()) for c in r.path + (r.dest or ())) * 2
        if (cur is None or cur[0].folder != r.folder or cur[0].base != r.base or len(cur) >= max_ops
                or data + size > max_bytes or meta + cost > MAX_BATCH_META):
            out.append([r])
            data = meta = 0
        else:
            cur.append(r)
        data += size
        meta += cost
    return out


class Uploader:
    def __init__(self, files):
        self.files = files
        self.lock = asyncio.Lock()
        self.task: asyncio.Task | None = None
        self.wake = asyncio.Event()
        self.paused = False
        self.reason = ""
        self.speed_bps = 0.0              # moving average (EMA, alpha 0.3) over batches
        self.last_error: str | None = None
        self.fails = 0                    # consecutive transient failures (for the backoff)
        self.sent_bytes = 0
        self.revisions = 0
        self.notices: list[dict] = []     # conflicts the user is told about (status and an event)

    # -- control ---------------------------------------------------------------------------

    def start(self) -> None:
        """Run the background uploader (idempotent); it resumes from the journal rows."""
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._loop(), name="kbapp-fs-uploader")
        self.wake.set()

    async def stop(self) -> None:
        task, self.task = self.task, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass

    def pause(self, reason: str = "paused by you") -> None:
        self.paused, self.reason = True, reason

    def resume(self) -> None:
        self.paused, self.reason, self.fails = False, "", 0
        self.start()

    def kick(self) -> None:
        self.wake.set()

    async def _loop(self) -> None:
        while True:
            delay = None if not self.fails else BACKOFF[min(self.fails, len(BACKOFF)) - 1]
            try:
                await asyncio.wait_for(self.wake.wait(), delay)
            except asyncio.TimeoutError:
                pass
            self.wake.clear()
            if self.paused:
                continue
            try:
                await self.run_once()
            except errors.FolderHeadUnreadable:
                pass                                          # that folder waits (recorded); the others went
            except errors.VerificationError as e:
                self.pause(f"stopped: {e.code}: {e}")        # a lie: nothing more is sent until resumed
            except errors.KbappError:
                pass                                          # recorded; retried after the backoff
            except Exception as e:  # noqa: BLE001 - the task must not die silently
                self.last_error = f"{type(e).__name__}: {e}"
                self.fails += 1

    # -- one pass ----------------------------------------------------------------------------

    async def run_once(self) -> dict:
        """Upload every pending batch now, oldest first; {"uploaded": ids, "failed": ids}. A
        transient error stops the pass (rows stay pending) and is raised; a final refusal parks
        the batch as failed and is raised."""
        files = self.files
        journal = await files.open()
        done, failed = [], []
        blocked: dict[str, errors.FolderHeadUnreadable] = {}     # folder -> why its batches wait
        async with self.lock:
            for batch in batches(await journal.pending()):
                ids = [r.id for r in batch]
                if batch[0].folder in blocked:
                    continue
                t0 = time.monotonic()
                try:
                    sent = await files._upload_batch(batch)
                except errors.FolderHeadUnreadable as e:
                    # One folder no one can read (rollback.py): its rows wait with the reason, the
                    # other folders go on, and it is tried again after the backoff (a rollback by
                    # any writer makes it readable); not a pause of every upload.
                    self._failed(e)
                    await journal.update(ids, error=f"{e.code}: {e}")
                    blocked[batch[0].folder] = e
                    files._emit_queue()
                    continue
                except errors.VerificationError as e:
                    self._failed(e)
                    await journal.update(ids, error=f"{e.code}: {e}")
                    files._emit_queue()
                    raise
                except errors.KbappError as ex:
                    self._failed(ex)
                    final = isinstance(ex, errors.FolderRefused) and not isinstance(ex, errors.FolderHeadMoved)
                    for i in ids:
                        await journal.mark(i, "failed" if final else "pending", f"{ex.code}: {ex}")
                    failed += ids
                    files._emit_queue()
                    raise
                if sent is None:                  # parked by a merge: kept as a view, not uploaded
                    files._emit_queue()
                    continue
                dt = max(time.monotonic() - t0, 1e-3)
                self.speed_bps = sent / dt if not self.speed_bps else 0.7 * self.speed_bps + 0.3 * sent / dt
                self.sent_bytes += sent
                self.revisions += 1
                self.fails, self.last_error = 0, None
                done += ids
                files._emit_queue()
        if blocked:
            raise next(iter(blocked.values()))
        return {"uploaded": done, "failed": failed}

    def _failed(self, e: errors.KbappError) -> None:
        self.last_error = f"{e.code}: {e}"
        self.fails += 1

    async def sync(self, timeout: float | None = None) -> dict:
        """Wait until nothing is pending: FolderSyncTimeout when time runs out, UploadFailed when
        a change was refused for good, a VerificationError as it is."""
        journal = await self.files.open()
        deadline = None if timeout is None else time.monotonic() + timeout
        uploaded: list = []
        while True:
            if not self.paused:
                try:
                    uploaded += (await self.run_once())["uploaded"]
                except errors.VerificationError:
                    raise
                except errors.KbappError:
                    pass
            rows = await journal.unfinished()
            bad = [r for r in rows if r.state == "failed"]
            if bad:
                raise errors.UploadFailed(f"{len(bad)} change(s) were refused; the last: {bad[-1].error}")
            left = [r for r in rows if r.state == "pending"]
            if not left:
                return {"uploaded": uploaded, "pending": 0}
            wait = BACKOFF[min(max(self.fails, 1), len(BACKOFF)) - 1]
            if deadline is not None:
                if time.monotonic() + min(wait, 0.2) > deadline:
                    why = f" ({self.reason})" if self.paused else f" (last error: {self.last_error})" \
                        if self.last_error else ""
                    raise errors.FolderSyncTimeout(f"{len(left)} change(s) still pending{why}")
                wait = min(wait, max(deadline - time.monotonic(), 0.05))
            await asyncio.sleep(wait if not self.paused else 0.2)
