"""The face users touch: ``ltx.open(url)`` -> Replica; pages and restores at any point in time.

It composes the layers below (storage, resolve, compaction) and holds no format logic.
This is the only layer that reads the process environment (Litestream's variables).
"""

from __future__ import annotations

import builtins
import datetime as dt
import io
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from ltx.codec import (
    HEADER_FLAG_NO_CHECKSUM,
    HEADER_SIZE,
    Decoder,
    Encoder,
    FileIndex,
    FileInfo,
    Header,
    PageIndex,
    Trailer,
    lock_pgno,
    read_page,
    read_page_index,
)
from ltx.compaction import LevelsConfig, Step, plan_compaction, run_steps
from ltx.errors import (
    ConflictError,
    FormatError,
    NotFoundError,
    StorageError,
    UsageError,
)
from ltx.resolve import (
    PageCache,
    PageMap,
    Plan,
    RestorePoint,
    build_page_map,
    plan_restore,
    restorable_points,
)
from ltx.storage import Store, open_store
from ltx.timeparse import parse_time

__all__ = ["open", "Replica", "View", "TimeLike"]

TimeLike = dt.datetime | str | int | float
UTC = dt.timezone.utc


def open(
    url: str,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    cache_bytes: int = 64 << 20,
    max_concurrency: int = 16,
    follow: float | None = None,
    env: Mapping[str, str] | None = None,
    **storage_options: Any,
) -> Replica:
    """Open the replica at ``url`` (any URL Litestream accepts, or any fsspec URL).

    ``storage_options`` go to the filesystem and win over the URL and the environment
    (``LITESTREAM_*``, then ``AWS_*``). ``cache_dir`` keeps pages, page indexes and the
    last listing on disk so a reader that goes offline keeps serving what it has seen.
    ``follow`` (seconds) makes views opened at the latest point move forward on access.
    """
    store = open_store(
        url,
        env=os.environ if env is None else env,
        max_concurrency=max_concurrency,
        **storage_options,
    )
    return Replica(store, cache=PageCache(cache_bytes, cache_dir), follow=follow)


def _now() -> dt.datetime:
    return dt.datetime.now(UTC)


class Replica:
    """A Litestream replica: list files, read pages at any TXID or time, restore, write."""

    def __init__(
        self,
        store: Store,
        *,
        cache: PageCache | None = None,
        follow: float | None = None,
        clock: Callable[[], dt.datetime] = _now,
    ) -> None:
        self.store = store
        self.cache = cache or PageCache()
        self.follow = follow
        self.clock = clock
        self._lock = threading.Lock()
        self._files: list[FileInfo] | None = None
        self._exact: list[FileInfo] | None = None
        self._indexes: dict[str, FileIndex] = {}
        self.position: int | None = None  # max TXID seen or written by this object

    def __repr__(self) -> str:
        return f"<Replica {self.store.url}>"

    # -- listing ------------------------------------------------------------------

    def _listing_key(self) -> str:
        return PageCache.key(self.store.url, "listing")

    def refresh(self) -> list[FileInfo]:
        """List the replica again (picks up new files, forgets deleted ones)."""
        try:
            files = self.store.list_files()
        except StorageError as exc:
            if isinstance(exc, NotFoundError):
                raise
            cached = self.cache.get(self._listing_key()) if self.cache.cache_dir else None
            if cached is None:
                raise
            files = _files_from_json(cached)
        else:
            if self.cache.cache_dir is not None:
                self.cache.put(self._listing_key(), _files_to_json(files))
        with self._lock:
            self._files = files
            self._exact = None
            live = {f.path for f in files}
            self._indexes = {p: fi for p, fi in self._indexes.items() if p in live}
            self.position = max((f.max_txid for f in files), default=0)
        return files

    def files(self, *, exact_times: bool = False) -> list[FileInfo]:
        """Every LTX file, by level then TXID (listed once, then cached until ``refresh``).

        ``exact_times`` gives the creation times timestamp restores use (S3: one HEAD per
        object; WebDAV: the header timestamp).
        """
        if self._files is None:
            self.refresh()
        assert self._files is not None
        if not exact_times:
            return self._files
        if self._exact is None:
            self._exact = self.store.exact_times(self._files)
        return self._exact

    def history(self) -> list[RestorePoint]:
        """Every TXID this replica can rebuild exactly, with when its last file was made."""
        return restorable_points(self.files())

    # -- planning -----------------------------------------------------------------

    def _target(self, timestamp: TimeLike | None) -> dt.datetime | None:
        return None if timestamp is None else parse_time(timestamp, now=self.clock())

    def plan(self, txid: int | None = None, *, timestamp: TimeLike | None = None) -> Plan:
        """The files Litestream's restore would use for this target."""
        if txid is not None and timestamp is not None:
            raise UsageError("give a txid or a timestamp, not both")
        when = self._target(timestamp)
        if when is None:
            return plan_restore(self.files(), txid=txid)
        listed = self.files()
        if not listed:
            return plan_restore(listed, timestamp=when)  # raises: no files
        bounds = (min(f.created_at for f in listed), max(f.created_at for f in listed))
        return plan_restore(self.files(exact_times=True), timestamp=when, time_bounds=bounds)

    def _index_key(self, f: FileInfo) -> str:
        return PageCache.key(self.store.url, f.path, f.size, "index")

    def _file_index(self, f: FileInfo) -> FileIndex:
        got = self._indexes.get(f.path)
        if got is not None and got.size == f.size:
            return got
        key = self._index_key(f)
        raw = self.cache.get(key)
        if raw is not None:
            got = _index_from_bytes(raw, f.size)
        else:
            got = read_page_index(
                lambda s, e: self.store.read_range(f.path, s, e), f.size, name=f.path
            )
            self.cache.put(key, _index_to_bytes(got))
        self._indexes[f.path] = got
        return got

    def _file_header(self, f: FileInfo) -> Header:
        key = PageCache.key(self.store.url, f.path, f.size, "header")
        raw = self.cache.get(key)
        if raw is None:
            raw = self.store.read_range(f.path, 0, HEADER_SIZE)
            self.cache.put(key, raw)
        try:
            return Header.from_bytes(raw)
        except FormatError as exc:
            raise exc.at(f.path) from None

    def _page_map(self, plan: Plan) -> PageMap:
        return build_page_map(plan, self._file_index, self._file_header, self.store.map)

    # -- reading ------------------------------------------------------------------

    def snapshot(self, txid: int | None = None, *, timestamp: TimeLike | None = None) -> View:
        """A View of the database at ``txid`` or ``timestamp`` (latest if neither)."""
        plan = self.plan(txid, timestamp=timestamp)
        latest = txid is None and timestamp is None
        return View(self, self._page_map(plan), following=latest and self.follow is not None)

    def page_at(
        self, pgno: int, txid: int | None = None, *, timestamp: TimeLike | None = None
    ) -> bytes:
        """Page ``pgno`` as of ``txid`` or ``timestamp`` (latest when neither is given)."""
        return self.snapshot(txid, timestamp=timestamp).page(pgno)

    def _read_page(self, pm: PageMap, pgno: int) -> bytes:
        loc = pm.locate(pgno)
        if loc is None:
            return bytes(pm.page_size)
        key = PageCache.key(self.store.url, loc.file.path, loc.offset)
        data = self.cache.get(key)
        if data is None:
            path = loc.file.path
            data = read_page(
                lambda s, e: self.store.read_range(path, s, e),
                loc.offset,
                loc.size,
                pm.page_size,
                pgno=pgno,
                name=path,
            )
            self.cache.put(key, data)
        return data

    def restore(
        self,
        path: str | os.PathLike[str],
        txid: int | None = None,
        *,
        timestamp: TimeLike | None = None,
        overwrite: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> View:
        """Write the database at that point to ``path``, byte-identical to ``litestream restore``.

        Every plan file is streamed through the verifying decoder (files in parallel);
        each page is written where it belongs in a temp file that is fsynced and moved
        into place. Memory is bounded by the page index, not the database size.
        """
        out = Path(path)
        if out.exists() and not overwrite:
            raise FileExistsError(f"{out} exists; pass overwrite=True to replace it")
        view = self.snapshot(txid, timestamp=timestamp)
        pm = view.page_map
        ps, commit = pm.page_size, pm.commit
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.tmp-", dir=out.parent)
        lock = lock_pgno(ps)
        total = commit - (1 if lock <= commit else 0)
        winners = pm.winners()
        done = 0
        done_lock = threading.Lock()

        def tick(n: int) -> None:
            nonlocal done
            with done_lock:
                done += n
                if progress is not None:
                    progress(done, total)

        def one(ordinal: int) -> int:
            wanted = winners[ordinal]
            f = pm.files[ordinal]
            written = 0
            with self.store.open_reader(f) as fp:
                for ph, data in Decoder(fp, name=f.path):  # verifies the file checksum
                    if ph.pgno in wanted:
                        os.pwrite(fd, data, (ph.pgno - 1) * ps)
                        written += 1
                        if written % 1024 == 0:
                            tick(1024)
            tick(written % 1024)
            if written != len(wanted):
                raise FormatError(f"file holds {written} of {len(wanted)} pages", path=f.path)
            return written

        try:
            os.ftruncate(fd, commit * ps)
            counts = self.store.map(one, sorted(winners))
            if sum(counts) != total:
                raise FormatError(f"plan covers {sum(counts)} of {total} pages")
            os.fsync(fd)
            os.close(fd)
            fd = -1
            os.replace(tmp, out)
        except BaseException:
            if fd >= 0:
                os.close(fd)
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return view

    # -- writing ------------------------------------------------------------------

    def _latest_header(self) -> Header | None:
        files = self.files()
        if not files:
            return None
        return self._file_header(max(files, key=lambda f: (f.max_txid, -f.level)))

    def append(
        self,
        pages: Mapping[int, bytes] | Iterable[tuple[int, bytes]],
        commit: int,
        timestamp: TimeLike | None = None,
        *,
        page_size: int | None = None,
    ) -> FileInfo:
        """Write the next level-0 file (TXID = position + 1) holding ``pages``.

        ``commit`` is the database size in pages after the transaction. Raises
        ConflictError, writing nothing, when the replica moved since this object last
        looked (another writer); the new file is created only if absent where the
        backend allows (see ``Store.conditional_create``).
        """
        known = self.position
        self.refresh()
        if known is not None and self.position != known:
            raise ConflictError(
                f"replica moved from TXID {known:016x} to {self.position or 0:016x} "
                "since it was last read; another writer is active",
                url=self.store.url,
            )
        items = sorted(pages.items() if isinstance(pages, Mapping) else pages)
        pos = self.position or 0
        last = self._latest_header()
        if page_size is None:
            page_size = last.page_size if last is not None else (len(items[0][1]) if items else 0)
        if last is not None and last.page_size != page_size:
            raise UsageError(f"page size {page_size} differs from the replica's {last.page_size}")
        txid = pos + 1
        when = self._target(timestamp) or self.clock()
        ts = int(when.timestamp() * 1000)
        header = Header(
            flags=HEADER_FLAG_NO_CHECKSUM,
            page_size=page_size,
            commit=commit,
            min_txid=txid,
            max_txid=txid,
            timestamp=ts,
        )
        lock = lock_pgno(page_size)
        buf = io.BytesIO()
        enc = Encoder(buf, header)
        for pgno, data in items:
            if pgno != lock:
                enc.write_page(pgno, data)
        enc.close()
        info = self.store.write(0, txid, txid, buf.getvalue(), timestamp_ms=ts, if_absent=True)
        self.position = txid
        self._files = None
        return info

    def write_snapshot(
        self,
        source: str | os.PathLike[str] | View,
        *,
        timestamp: TimeLike | None = None,
    ) -> FileInfo:
        """Write a level-9 snapshot from a SQLite file (at the replica's position) or a View."""
        from ltx.dbfile import write_db_snapshot

        when = self._target(timestamp) or self.clock()
        ts = int(when.timestamp() * 1000)
        buf = io.BytesIO()
        if isinstance(source, View):
            txid = source.txid
            header = Header(
                flags=HEADER_FLAG_NO_CHECKSUM,
                page_size=source.page_size,
                commit=source.page_count,
                min_txid=1,
                max_txid=txid,
                timestamp=ts,
            )
            enc = Encoder(buf, header)
            lock = lock_pgno(source.page_size)
            for pgno in range(1, source.page_count + 1):
                if pgno != lock:
                    enc.write_page(pgno, source.page(pgno))
            enc.close()
        else:
            self.refresh()
            txid = self.position or 0
            if txid == 0:
                raise UsageError("an empty replica has no position to snapshot; append first")
            with builtins.open(source, "rb") as src:
                write_db_snapshot(
                    src,
                    buf,
                    max_txid=txid,
                    timestamp=ts,
                    flags=HEADER_FLAG_NO_CHECKSUM,
                    name=os.fspath(source),
                )
        info = self.store.write(9, 1, txid, buf.getvalue(), timestamp_ms=ts)
        self._files = None
        return info

    def compact(
        self,
        config: LevelsConfig | None = None,
        *,
        now: TimeLike | None = None,
        dry_run: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[Step]:
        """Plan Litestream's compaction and retention at ``now`` and run it (unless dry_run)."""
        when = self._target(now) or self.clock()
        steps = plan_compaction(config or LevelsConfig.default(), self.refresh(), when)
        if not dry_run and steps:
            run_steps(self, steps, progress=progress)
        return steps


class View:
    """The database at one point in time: ``page(pgno)``, ``read(offset, n)``, its size.

    Pages come from the replica with one ranged read each (none when cached). If
    compaction deletes a file under the view, it re-plans the same TXID and retries;
    a TXID no longer restorable raises TxidNotAvailableError, never a wrong page.
    """

    def __init__(self, replica: Replica, page_map: PageMap, *, following: bool = False) -> None:
        self.replica = replica
        self.page_map = page_map
        self.following = following
        self._checked = time.monotonic()

    def __repr__(self) -> str:
        return f"<View txid={self.txid:016x} pages={self.page_count}>"

    @property
    def txid(self) -> int:
        """The TXID this view shows."""
        return self.page_map.txid

    @property
    def timestamp(self) -> dt.datetime:
        """Creation time of the newest file behind this view."""
        return self.page_map.timestamp

    @property
    def page_size(self) -> int:
        """Database page size in bytes."""
        return self.page_map.page_size

    @property
    def page_count(self) -> int:
        """Database size in pages (the Commit of the last file)."""
        return self.page_map.commit

    @property
    def size(self) -> int:
        """Database size in bytes."""
        return self.page_count * self.page_size

    def _maybe_follow(self) -> None:
        follow = self.replica.follow
        if not self.following or follow is None:
            return
        if time.monotonic() - self._checked < follow:
            return
        self._checked = time.monotonic()
        self.replica.refresh()
        plan = self.replica.plan()
        if plan.txid != self.txid:
            self.page_map = self.replica._page_map(plan)

    def _replan(self) -> None:
        self.replica.refresh()
        plan = self.replica.plan(self.txid)
        self.page_map = self.replica._page_map(plan)

    def page(self, pgno: int) -> bytes:
        """One page, decompressed; PageNotFoundError past the end of the database."""
        self._maybe_follow()
        try:
            return self.replica._read_page(self.page_map, pgno)
        except NotFoundError:
            # A compaction removed a file under us: plan the same TXID again (or raise
            # TxidNotAvailableError if that point no longer exists).
            self._replan()
            return self.replica._read_page(self.page_map, pgno)

    def read(self, offset: int, n: int) -> bytes:
        """Bytes ``[offset, offset+n)`` of the database file at this point (short at EOF)."""
        if offset < 0 or n < 0:
            raise ValueError("offset and n must be non-negative")
        ps = self.page_size
        end = min(offset + n, self.size)
        out = bytearray()
        pos = offset
        while pos < end:
            pgno = pos // ps + 1
            page = self.page(pgno)
            start = pos - (pgno - 1) * ps
            take = min(ps - start, end - pos)
            out += page[start : start + take]
            pos += take
        return bytes(out)


def _files_to_json(files: list[FileInfo]) -> bytes:
    return json.dumps(
        [[f.level, f.min_txid, f.max_txid, f.size, f.created_at.isoformat(), f.path] for f in files]
    ).encode()


def _files_from_json(raw: bytes) -> list[FileInfo]:
    return [
        FileInfo(lv, lo, hi, size, dt.datetime.fromisoformat(ts), path)
        for lv, lo, hi, size, ts, path in json.loads(raw)
    ]


def _index_to_bytes(fi: FileIndex) -> bytes:
    head = fi.header.to_bytes() if fi.header is not None else b""
    return bytes([len(head) > 0]) + head + fi.trailer.to_bytes() + fi.index.encode()


def _index_from_bytes(raw: bytes, size: int) -> FileIndex:
    pos = 1
    header = None
    if raw[0]:
        header = Header.from_bytes(raw[1:101])
        pos = 101
    trailer = Trailer.from_bytes(raw, pos)
    index, _ = PageIndex.decode(raw, start=pos + 16)
    return FileIndex(index=index, trailer=trailer, size=size, header=header)
