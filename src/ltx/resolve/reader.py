"""Reading plans from a store: file indexes, page maps per plan, and single pages.

Everything read is immutable (LTX files never change), so indexes and pages are
cached by path and size in the page cache (memory, and disk with ``cache_dir``), and
the last few page maps are kept per plan, so repeated reads cost a lookup.

A page read never sees the file checksum. With ``verify_files``, the first page
served from a file waits until the whole file has been read once through the
verifying decoder (one GET of the whole file); the outcome is kept with the page cache.
"""

from __future__ import annotations

import bisect
import threading
from collections import OrderedDict
from collections.abc import Sequence

from ltx.codec import (
    Decoder,
    FileIndex,
    FileInfo,
    decode_listing,
    encode_listing,
    read_file_index,
    read_page,
    read_pages,
)
from ltx.errors import FormatError, NotFoundError, StorageError
from ltx.resolve.cache import PageCache
from ltx.resolve.index import PageMap, build_page_map
from ltx.resolve.plan import Plan
from ltx.storage import Store

__all__ = ["MAX_READ_AROUND", "RUN_BYTES", "PageReader"]

RUN_BYTES = 1 << 20
"""The largest ranged read ``read_pages`` makes for one run of nearby frames."""
RUN_GAP = 256 << 10
"""The most unwanted bytes between two frames ``read_pages`` still fetches in one read:
skipping them costs less than another request (a local read's call, or a round trip)."""
MAX_READ_AROUND = 4 << 20
"""The largest window of neighbouring frames one page miss fetches (after repeated misses)."""
_FRAME = "\x00frame"  # cache-key suffix of a compressed frame kept on speculation


class PageReader:
    """Indexes, page maps and pages of one store, through one page cache."""

    def __init__(
        self, store: Store, cache: PageCache, *, maps: int = 8, verify_files: bool = False
    ) -> None:
        self.store = store
        self.cache = cache
        self.verify_files = verify_files
        self._verified: set[tuple[str, int]] = set()
        self._verifying: dict[str, threading.Lock] = {}
        self.files_verified = 0  # files read whole to check them, for tests
        self._lock = threading.Lock()
        self._indexes: dict[str, FileIndex] = {}
        self._maps: OrderedDict[Plan, PageMap] = OrderedDict()
        self._max_maps = maps
        self._misses: dict[str, int] = {}  # page misses per file: the read-around grows
        self.maps_built = 0  # page maps built (not served from the LRU), for tests

    def _key(self, f: FileInfo, what: str) -> str:
        return PageCache.key(self.store.url, f.path, f.size, what)

    def list_files(self) -> list[FileInfo]:
        """List the store; offline (a storage fault), the last listing kept in ``cache_dir``."""
        key = PageCache.key(self.store.url, "listing")
        try:
            files = self.store.list_files()
        except StorageError as exc:
            cached = None
            if not isinstance(exc, NotFoundError) and self.cache.cache_dir is not None:
                cached = self.cache.get(key)
            if cached is None:
                raise
            return decode_listing(cached)
        if self.cache.cache_dir is not None:
            self.cache.put(key, encode_listing(files))
        return files

    def file_index(self, f: FileInfo) -> FileIndex:
        """Header, page index and trailer of one file (cached; at most two ranged reads)."""
        got = self._indexes.get(f.path)
        if got is not None and got.size == f.size:
            return got
        key = self._key(f, "file-index")
        raw = self.cache.get(key) if self.cache.cache_dir is not None else None
        got = None
        if raw is not None:
            try:
                got = FileIndex.from_bytes(raw, f.size)
            except FormatError:
                got = None  # a damaged cache entry is read again from the store
        if got is None or got.header is None:
            got = read_file_index(
                lambda s, e: self.store.read_range(f.path, s, e), f.size, name=f.path
            )
            if self.cache.cache_dir is not None:  # memory holds it in _indexes already
                self.cache.put(key, got.to_bytes())
        with self._lock:
            self._indexes[f.path] = got
        return got

    def page_map(self, plan: Plan) -> PageMap:
        """The page map of ``plan``: from the LRU, or built from the files' indexes."""
        with self._lock:
            pm = self._maps.get(plan)
            if pm is not None:
                self._maps.move_to_end(plan)
                return pm
        indexes = self.store.map(self.file_index, plan.files)
        pm = build_page_map(plan, indexes)
        with self._lock:
            self.maps_built += 1
            self._maps[plan] = pm
            while len(self._maps) > self._max_maps:
                self._maps.popitem(last=False)
        return pm

    def forget(self, live: set[str]) -> None:
        """Drop indexes and page maps that use files no longer listed."""
        with self._lock:
            self._indexes = {p: fi for p, fi in self._indexes.items() if p in live}
            self._misses = {p: n for p, n in self._misses.items() if p in live}
            for plan in [p for p in self._maps if any(f.path not in live for f in p.files)]:
                del self._maps[plan]

    def read_page(self, pm: PageMap, pgno: int) -> bytes:
        """Page ``pgno`` of ``pm``: cached, or one ranged read and a decode.

        A miss also fetches the neighbouring frames within a window and keeps them
        compressed (decoded only if asked for). The window starts at the backend's
        ``read_around`` and doubles with each miss in the same file, up to
        ``MAX_READ_AROUND``: scattered reads (random lookups) soon hold the file's frames
        in memory at about a third of their decoded size, for a few larger requests.
        """
        loc = pm.locate(pgno)
        if loc is None:
            return bytes(pm.page_size)
        f = loc.file
        if self.verify_files:
            self.verify_file(f)
        key = f"{self.store.url}\x00{f.path}\x00{loc.offset}"
        data = self.cache.get(key)
        if data is not None:
            return data
        frame = self.cache.pop(key + _FRAME)
        if frame is not None:
            data = read_page(
                lambda s, e: frame[s - loc.offset : e - loc.offset],
                loc.offset,
                loc.size,
                pm.page_size,
                pgno=pgno,
                name=f.path,
            )
        else:
            data = self._fetch(f, pgno, loc.offset, loc.size, pm.page_size)
        self.cache.put(key, data)
        return data

    def read_pages(self, pm: PageMap, pgnos: Sequence[int]) -> list[bytes]:
        """Pages ``pgnos`` of ``pm`` at once: cached ones from the cache, the rest read in
        runs of nearby frames (one ranged read of up to ``RUN_BYTES`` each, gaps of up to
        ``RUN_GAP`` read and dropped, several in flight) and decoded; what is read is not
        cached (the caller keeps what it needs)."""
        out: list[bytes | None] = [None] * len(pgnos)
        runs: list[tuple[FileInfo, list[tuple[int, int, int, int]]]] = []
        for i, pgno in enumerate(pgnos):
            loc = pm.locate(pgno)
            if loc is None:
                out[i] = bytes(pm.page_size)
                continue
            f = loc.file
            if self.verify_files:
                self.verify_file(f)
            cached = self.cache.get(f"{self.store.url}\x00{f.path}\x00{loc.offset}")
            if cached is not None:
                out[i] = cached
                continue
            last = runs[-1] if runs else None
            if (
                last is not None
                and last[0].path == f.path
                and 0 <= loc.offset - (last[1][-1][2] + last[1][-1][3]) <= RUN_GAP
                and loc.offset + loc.size - last[1][0][2] <= RUN_BYTES
            ):
                last[1].append((i, pgno, loc.offset, loc.size))
            else:
                runs.append((f, [(i, pgno, loc.offset, loc.size)]))

        def fetch(run: tuple[FileInfo, list[tuple[int, int, int, int]]]) -> list[bytes]:
            f, frames = run
            return read_pages(
                lambda s, e: self.store.read_range(f.path, s, e),
                [(pgno, off, size) for _, pgno, off, size in frames],
                pm.page_size,
                name=f.path,
            )

        for (_, frames), pages in zip(runs, self.store.map(fetch, runs), strict=True):
            for (i, _, _, _), page in zip(frames, pages, strict=True):
                out[i] = page
        done = [page for page in out if page is not None]
        assert len(done) == len(out)  # every position was filled above
        return done

    def verify_file(self, f: FileInfo) -> None:
        """Read ``f`` whole through the verifying decoder, once; FormatError if it fails.

        The file must also agree with the index its pages are located by. Success is
        kept in memory and, with ``cache_dir``, on disk; a failure is not kept.
        """
        done = (f.path, f.size)
        if done in self._verified:
            return
        with self._lock:
            lock = self._verifying.setdefault(f.path, threading.Lock())
        with lock:
            if done in self._verified:
                return
            key = self._key(f, "verified")
            if self.cache.cache_dir is None or self.cache.get(key) is None:
                with self.store.open_reader(f) as fp:
                    dec = Decoder(fp, name=f.path)
                    trailer = dec.verify()
                known = self.file_index(f)
                if (dec.header, dec.index, trailer) != (known.header, known.index, known.trailer):
                    raise FormatError("file differs from its page index as read", path=f.path)
                self.files_verified += 1
                if self.cache.cache_dir is not None:
                    self.cache.put(key, b"ok")
            with self._lock:
                self._verified.add(done)

    def _fetch(self, f: FileInfo, pgno: int, offset: int, size: int, page_size: int) -> bytes:
        """One ranged read of the frame and its neighbours; decode the frame, keep the rest
        compressed as speculative (first evicted) cache entries."""
        frames = self._around(f, pgno, offset, size)
        start, end = frames[0][1], frames[-1][1] + frames[-1][2]
        blob = self.store.read_range(f.path, start, end)
        data = read_page(lambda s, e: blob[s - start : e - start], offset, size, page_size,
                         pgno=pgno, name=f.path)  # fmt: skip
        if len(blob) == end - start:
            base = f"{self.store.url}\x00{f.path}\x00"
            for _, off, n in frames:
                if off != offset:
                    raw = blob[off - start : off - start + n]
                    self.cache.put(f"{base}{off}{_FRAME}", raw, disk=False, cold=True)
        return data

    def _around(self, f: FileInfo, pgno: int, offset: int, size: int) -> list[tuple[int, int, int]]:
        """The frames to fetch for a miss on ``pgno``: itself, and its neighbours in the
        file within the current window (the page index says where each one lies)."""
        base = self.store.backend.read_around
        if base <= 0:
            return [(pgno, offset, size)]
        with self._lock:
            misses = self._misses.get(f.path, 0)
            self._misses[f.path] = misses + 1
        window = min(base << min(misses, 16), max(base, MAX_READ_AROUND))
        idx = self.file_index(f).index
        offs = idx.offsets
        lo = bisect.bisect_left(offs, offset - window // 2)
        hi = bisect.bisect_right(offs, offset + window // 2)
        return [(idx.pgnos[i], offs[i], idx.sizes[i]) for i in range(lo, hi)] or [
            (pgno, offset, size)
        ]
