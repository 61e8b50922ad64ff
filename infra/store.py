"""The DuckDB store: versioned migrations, and how writers and readers share one file.

DuckDB lets one process hold a file read-write and no other process open it at all,
not even read-only (it fails at once with "Could not set lock"). So nobody keeps the
file open: every unit of work opens it, does its transaction, and closes it.

- The writer (the processor) opens read-write for each micro-batch: it reads its state,
  closes, runs the Beam batch with the file free, then reopens to write results and
  offsets in one transaction. The file is held only for those short transactions.
- Readers (digest and rollup flows, `radar dlq list`) open read-only; several can read
  at once.
- Whoever finds the file locked retries with jittered backoff up to
  `store.lock_timeout_s`, then fails with a clear error. Both sides make progress
  because neither holds the lock across slow work (tests/test_store.py proves it
  with two processes).
- While batches follow each other (`radar process --follow` under load) the processor keeps
  one idle connection open between its commits (`hold`): each commit then skips DuckDB's open,
  its closing checkpoint and a cold cache. It lets go whenever it goes idle, at the end of the
  next batch once another process has asked for the file, and at least every `max_s` for
  tools that cannot ask. A process asks by touching `<store>.wanted` while it retries a locked
  file (`_connect`); radar's own readers (`radar status`, the digest and rollup flows) all do.
  Letting go every second instead cost a checkpoint and a cold reopen about every other batch
  (at 100k stored, bench/alert_latency.py: commit p50 178-277 ms over five runs against 165-222 ms
  over three held, on a machine whose speed varied by a third that day). A close runs in a thread
  while the next batch's pipeline runs (DuckDB's closing checkpoint does not hold the GIL).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import random
import shutil
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import duckdb

__all__ = ["MIGRATIONS", "HeldSince", "Store", "StoreDamaged", "StoreError", "StoreLocked", "require_existing"]

log = logging.getLogger(__name__)


class StoreError(RuntimeError):
    """The store cannot be used (bad file, migration failure)."""


def require_existing(path: Path) -> None:
    """For commands that only read or copy the store: a missing file is a wrong `--config` or a first
    run, never something to create empty (a listing would then say "0", a backup copy the empty file)."""
    if not Path(path).exists():
        raise StoreError(
            f"{path}: no DuckDB file yet (nothing has run with this configuration; "
            "`radar demo` keeps its own: --config data/demo/radar.toml)"
        )


class StoreLocked(StoreError):
    """Another process held the DuckDB file for longer than the lock timeout."""


class StoreDamaged(StoreError):
    """The DuckDB file is shorter than its used blocks need, or a table cannot be read to its end."""


# A DuckDB file is a 4 KiB main header and two 4 KiB database headers, then its blocks.
_FILE_HEADER_BYTES = 3 * 4096
# Errors of `os.link` that mean the file system has no hard links (then a copy is kept aside).
_NO_HARD_LINKS = frozenset({errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK})
# Connections this process holds per file (see Store._open).
_OPEN_LOCK = threading.Lock()
_OPEN: Counter[str] = Counter()


def _load_migrations() -> list[tuple[int, str, str]]:
    found = []
    for entry in resources.files("infra.migrations").iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:3].isdigit():
            found.append((int(name[:3]), name, entry.read_text(encoding="utf-8")))
    return sorted(found)


MIGRATIONS = _load_migrations()
LATEST_VERSION = MIGRATIONS[-1][0] if MIGRATIONS else 0


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc)
    # The last: another thread of this process has the file open the other way (read-only against
    # read-write), e.g. a restore's guard beside a processor's next batch; it is let go as soon.
    return (
        "Could not set lock" in text
        or "Conflicting lock" in text
        or "same database file with a different configuration" in text
    )


@dataclass(frozen=True)
class HeldSince:
    """When a connection was taken: on the monotonic clock for how long it is held, and on the wall
    clock that file times use, to compare with when `<store>.wanted` was touched."""

    monotonic: float
    wall: float

    @classmethod
    def now(cls) -> HeldSince:
        return cls(time.monotonic(), time.time())


class Store:
    def __init__(self, path: str | Path, lock_timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        self.lock_timeout_s = lock_timeout_s
        self._migrated = False
        self._held: duckdb.DuckDBPyConnection | None = None
        self._held_since = HeldSince.now()
        self._closing: threading.Thread | None = None

    def hold(self, max_s: float) -> None:
        """Keep the file open between transactions (one idle read-write connection). Let go once
        (the next transaction opens it afresh) when another process has asked for the file since
        it was taken (`wanted_since`), or after `max_s` at a stretch, so that other processes get
        it however busy this one is; that close runs in a thread, and the next open of this store
        waits for it. `release()` lets go at once."""
        if self._held is not None:
            if self.should_let_go(self._held_since, max_s):
                con, self._held = self._held, None
                closing = threading.Thread(target=self._close, args=(con,), name="store-close", daemon=False)
                closing.start()
                # Published once started: another thread of this process (the webhook dispatcher's
                # session) may join it from `_connect` at any moment.
                self._closing = closing
            return
        self._held = self._connect(read_only=False)
        self._held_since = HeldSince.now()

    def should_let_go(self, since: HeldSince, max_s: float) -> bool:
        """Whether a connection kept open since `since` should be closed now: held `max_s`, or
        another process asked for the file after it was taken (`wanted_since`)."""
        return time.monotonic() - since.monotonic > max_s or self.wanted_since(since.wall)

    @property
    def wanted_path(self) -> Path:
        """The file another process touches while it waits for this store's lock."""
        return self.path.with_name(self.path.name + ".wanted")

    def wanted_since(self, when: float) -> bool:
        """Whether another process asked for the file at or after `when` (a `time.time()`)."""
        try:
            return self.wanted_path.stat().st_mtime >= when
        except OSError:
            return False

    def _ask_for_file(self) -> None:
        # Best effort: a read-only data directory only means the holder lets go on its timer.
        with contextlib.suppress(OSError):
            self.wanted_path.touch()

    def release(self) -> None:
        self._closed_behind()
        con, self._held = self._held, None
        if con is not None:
            self._close(con)

    def _closed_behind(self) -> None:
        """Wait for a close `hold` left running: the file is then really let go before this store opens
        it again (a connection opened meanwhile would keep DuckDB's instance, and the file, open)."""
        closing, self._closing = self._closing, None
        if closing is not None:
            closing.join()

    def open_connection(self) -> duckdb.DuckDBPyConnection:
        """A read-write connection to the migrated file, for a caller that runs its own transactions
        on it across several units of work (the webhook dispatcher's session) instead of opening the
        file for each; hand it back with `close_connection`."""
        con = self._connect(read_only=False)
        if not self._migrated:
            try:
                self._migrate(con)
            except BaseException:
                self._close(con)
                raise
        return con

    def close_connection(self, con: duckdb.DuckDBPyConnection) -> None:
        """Close a connection from `open_connection` (the last one of the process checkpoints the file)."""
        self._close(con)

    def _connect(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        self._closed_behind()
        deadline = time.monotonic() + self.lock_timeout_s
        delay = 0.005
        while True:
            try:
                return self._open(read_only)
            except (duckdb.IOException, duckdb.ConnectionException) as exc:
                if not _is_lock_error(exc):
                    raise StoreError(f"cannot open {self.path}: {exc}") from None
                self._ask_for_file()
                if time.monotonic() + delay > deadline:
                    raise StoreLocked(
                        f"{self.path} stayed locked by another process for {self.lock_timeout_s:.0f} s"
                    ) from None
                if delay == 0.005:
                    log.debug(
                        "%s is locked by another process; retrying for up to %.0f s", self.path, self.lock_timeout_s
                    )
                # Jitter keeps a reader and a writer from retrying in lockstep.
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 0.2)
            except duckdb.Error as exc:
                self._raise_if_damaged(exc)
                raise StoreError(f"cannot open {self.path}: {exc}") from None

    def _open(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        """Connect, checking the file when this process does not have it open already.

        A second connection in one process joins the first one's database instance, whose block
        counts include blocks not yet written out: only a first open sees the file as it is.
        """
        key = str(self.path.resolve())
        with _OPEN_LOCK:
            con = duckdb.connect(str(self.path), read_only=read_only)
            fresh = _OPEN[key] == 0
            _OPEN[key] += 1
        if fresh:
            try:
                self._checked(con)
            except StoreDamaged:
                self._close(con)
                raise
        return con

    def _close(self, con: duckdb.DuckDBPyConnection) -> None:
        key = str(self.path.resolve())
        with _OPEN_LOCK:
            con.close()
            _OPEN[key] -= 1
            if _OPEN[key] <= 0:
                del _OPEN[key]

    def _checked(self, con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
        """Refuse a truncated file before anyone reads or writes it.

        DuckDB reads blocks lazily, so a file cut short opens fine and fails only when a query
        reaches a missing block — a rollup could write into it for days before a digest noticed.
        """
        try:
            # fetchall, not fetchone: a result left open makes the caller's next `con.sql` fail.
            [(block_size, used_blocks)] = con.execute(
                "SELECT block_size, used_blocks FROM pragma_database_size()"
            ).fetchall()
            on_disk = self.path.stat().st_size
        except (duckdb.Error, OSError):
            return con  # a platform without the pragma: nothing to compare, the full check still reads
        # Used blocks must all fit in the file (free ones may have been trimmed off its end), so
        # a file shorter than that is cut short; `radar store check` reads every table for the rest.
        expected = _FILE_HEADER_BYTES + int(block_size) * int(used_blocks)
        if used_blocks and on_disk < expected:
            raise StoreDamaged(
                f"{self.path} is damaged: {on_disk} bytes on disk, its blocks need {expected} (truncated?);"
                " restore a backup with `radar store restore FILE`"
            )
        return con

    @contextlib.contextmanager
    def write(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection inside one transaction: commit on success, rollback on error."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = self._connect(read_only=False)
        try:
            if not self._migrated:
                self._migrate(con)
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
            except BaseException as exc:
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                self._raise_if_damaged(exc)
                raise
            con.execute("COMMIT")
        finally:
            self._close(con)

    def _raise_if_damaged(self, exc: BaseException) -> None:
        """A block that fails its checksum surfaces only when a query reaches it: say so as a damaged
        store (one line, exit 1), not as an internal error."""
        if isinstance(exc, duckdb.Error) and "corrupt database file" in str(exc).lower():
            raise StoreDamaged(
                f"{self.path} is damaged: {str(exc).splitlines()[0]}; restore a backup with `radar store restore FILE`"
            ) from None

    @contextlib.contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection; creates or migrates the file first only when it needs it.

        Checking the schema version read-only keeps readers off the exclusive lock: several
        digest/rollup readers can then share the file while no writer holds it.
        """
        if self._held is not None:
            # DuckDB refuses a read-only connection while this process has the file open read-write.
            with self.write() as con:
                yield con
            return
        if not self._migrated and not (self.path.exists() and self._current_read_only()):
            self.migrate()
        con = self._connect(read_only=True)
        try:
            yield con
        except duckdb.Error as exc:
            self._raise_if_damaged(exc)
            raise
        finally:
            self._close(con)

    def _current_read_only(self) -> bool:
        con = self._connect(read_only=True)
        try:
            done = {int(r[0]) for r in con.execute("SELECT version FROM schema_migrations").fetchall()}
        except duckdb.CatalogException:
            return False
        finally:
            self._close(con)
        version = max(done, default=0)
        if version > LATEST_VERSION:
            raise StoreError(f"{self.path} has schema version {version}, newer than this program ({LATEST_VERSION})")
        self._migrated = done >= {v for v, _, _ in MIGRATIONS}
        return self._migrated

    def migrate(self) -> list[str]:
        """Apply pending migrations; return the names applied."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = self._connect(read_only=False)
        try:
            return self._migrate(con)
        finally:
            self._close(con)

    def _migrate(self, con: duckdb.DuckDBPyConnection) -> list[str]:
        con.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL,"
            " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        done = {int(r[0]) for r in con.execute("SELECT version FROM schema_migrations").fetchall()}
        current = max(done, default=0)
        if current > LATEST_VERSION:
            raise StoreError(f"{self.path} has schema version {current}, newer than this program ({LATEST_VERSION})")
        applied = []
        for version, name, sql in MIGRATIONS:
            # By set, not by "above the highest": migrations written side by side may land in
            # either order, and a store that got 006 first must still get 005.
            if version in done:
                continue
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute(sql)
                con.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [version, name])
                con.execute("COMMIT")
            except duckdb.Error as exc:
                con.execute("ROLLBACK")
                raise StoreError(f"migration {name} failed: {exc}") from None
            applied.append(name)
            log.info("applied migration %s to %s", name, self.path)
        self._migrated = True
        return applied

    def version(self) -> int:
        with self.read() as con:
            return int(con.execute("SELECT max(version) FROM schema_migrations").fetchone()[0])

    def table_counts(self) -> dict[str, int]:
        with self.read() as con:
            tables = [
                r[0]
                for r in con.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY table_name"
                ).fetchall()
            ]
            return {t: int(con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]) for t in tables}

    def backup(self, target: Path) -> Path:
        """A consistent copy of the file: checkpointed and copied while we hold the write lock.

        A copy that fails its check is removed, and the message names this store (the copy is only
        as damaged as what it was copied from).
        """
        if target.is_dir():
            raise StoreError(f"{target} is a directory: give the backup a file name")
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        con = self._connect(read_only=False)
        try:
            con.execute("CHECKPOINT")
            shutil.copyfile(self.path, partial)
        finally:
            self._close(con)
        try:
            Store(partial).verify()
            os.replace(partial, target)
        except StoreDamaged as exc:
            partial.unlink(missing_ok=True)
            reason = str(exc).split(" is damaged: ", 1)[-1]
            raise StoreDamaged(
                f"{self.path} is damaged: {reason}; no backup was made (restore one with `radar store restore FILE`)"
            ) from None
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return target

    def restore(self, source: Path) -> Path | None:
        """Put a verified backup in place; the current file, if any, is kept aside, never deleted.

        Returns where the replaced file was moved. The swap happens while this process holds the
        current file's lock (a read-only connection, which no writer can open beside), so a batch
        being committed finishes first and lands in the file kept aside rather than in a file
        renamed under it; a holder, in this process or another, is asked for the file
        (`<store>.wanted`) and waited for up to the lock timeout. The path always names a whole
        file: the current one is hard-linked aside and the backup renamed over it, with no moment
        where a writer could open the path and create an empty store. A current file DuckDB cannot
        open (damaged) cannot be locked through it: it is replaced without the lock, so stop the
        processor and flows first (the runbook says so).
        """
        Store(source).verify()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One restore at a time: the read-only lock below is shared, so it keeps writers out but
        # not a second restore, which would reuse the staging name and the kept-aside name.
        with open(self.path.with_name(self.path.name + ".restore.lock"), "w") as serial:
            fcntl.flock(serial, fcntl.LOCK_EX)
            staged = self.path.with_name(self.path.name + ".restoring")
            shutil.copyfile(source, staged)
            try:
                guard = self._lock_for_restore()
            except BaseException:
                staged.unlink(missing_ok=True)
                raise
            try:
                kept = self._swap_in(staged)
            finally:
                if guard is not None:
                    self._close(guard)
        self._migrated = False
        return kept

    def _lock_for_restore(self) -> duckdb.DuckDBPyConnection | None:
        """A read-only connection on the current file (None when there is none, or DuckDB cannot open it)."""
        if not self.path.exists():
            return None
        # A holder in this very process (a processor's kept connection, in another thread) makes
        # DuckDB refuse the read-only connection as "a different configuration": `_connect` takes that
        # for a lock too, so it asks for the file and waits, as for a holder in another process.
        try:
            return self._connect(read_only=True)
        except StoreLocked:
            raise StoreLocked(
                f"{self.path} stayed locked by another process for {self.lock_timeout_s:.0f} s: "
                "nothing was restored; stop the processor and flows (make ops-pause), then restore again"
            ) from None
        except StoreError as exc:
            log.warning("restoring over %s without its lock: %s", self.path, str(exc).splitlines()[0])
            return None

    def _swap_in(self, staged: Path) -> Path | None:
        """Keep the current file (and its WAL) aside and rename `staged` over the path; on a failure,
        put everything back as it was (the live file keeps its WAL) and drop the staged copy."""
        kept: Path | None = None
        wal_moved: tuple[Path, Path] | None = None
        try:
            if self.path.exists():
                kept = self._kept_name()
                try:
                    os.link(self.path, kept)
                except OSError as exc:
                    if exc.errno not in _NO_HARD_LINKS:
                        raise
                    # A file system without hard links: a copy (the lock keeps writers out meanwhile).
                    shutil.copyfile(self.path, kept)
                wal = self.path.with_name(self.path.name + ".wal")
                if wal.exists():
                    kept_wal = kept.with_name(kept.name + ".wal")
                    os.replace(wal, kept_wal)
                    wal_moved = (kept_wal, wal)
            os.replace(staged, self.path)
        except BaseException:
            if wal_moved is not None:
                os.replace(*wal_moved)
            if kept is not None:
                kept.unlink(missing_ok=True)  # a second name of the live file, or a copy of it
            staged.unlink(missing_ok=True)
            raise
        return kept

    def _kept_name(self) -> Path:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        kept = self.path.with_name(f"{self.path.name}.replaced-{stamp}")
        n = 1
        while kept.exists():
            # Two restores in one second: the first file kept aside must not be overwritten.
            n += 1
            kept = self.path.with_name(f"{self.path.name}.replaced-{stamp}-{n}")
        return kept

    def verify(self) -> None:
        """Open read-only and read every table to the end; raises StoreError naming the file."""
        if not self.path.exists():
            raise StoreError(f"{self.path} does not exist")
        con = self._connect(read_only=True)
        try:
            tables = [
                r[0]
                for r in con.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
                ).fetchall()
            ]
            for table in tables:
                # The relation API streams; a DB-API result would copy the rows first (and warn).
                reader = con.sql(f'SELECT * FROM "{table}"').to_arrow_reader()
                for _ in reader:  # batch by batch: every block is read, none is held
                    pass
        except duckdb.Error as exc:
            raise StoreDamaged(f"{self.path} is damaged: {str(exc).splitlines()[0]}") from None
        finally:
            self._close(con)
