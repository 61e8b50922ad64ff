"""DuckDB store: versioned migrations, transactions, and a writer and a reader process sharing the file."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import IO

import duckdb
import pytest

from infra.store import LATEST_VERSION, MIGRATIONS, Store, StoreDamaged, StoreError, StoreLocked

EXPECTED_TABLES = {
    "items",
    "events",
    "event_items",
    "score_components",
    "consumer_offsets",
    "alerts_sent",
    "digests",
    "dead_letters",
    "source_cursors",
    "source_seen",
    "schema_migrations",
}


def test_migrations_apply_once_and_create_tables(tmp_path: Path) -> None:
    store = Store(tmp_path / "radar.duckdb")
    assert store.migrate() == [name for _, name, _ in MIGRATIONS]
    assert Store(tmp_path / "radar.duckdb").migrate() == []
    assert store.version() == LATEST_VERSION
    assert set(store.table_counts()) >= EXPECTED_TABLES


def test_newer_file_than_program_is_refused(tmp_path: Path) -> None:
    store = Store(tmp_path / "radar.duckdb")
    store.migrate()
    with duckdb.connect(str(store.path)) as con:
        con.execute("INSERT INTO schema_migrations (version, name) VALUES (999, 'future.sql')")
    with pytest.raises(StoreError, match="schema version 999, newer than this program"):
        Store(store.path).migrate()


def test_write_rolls_back_on_error(tmp_path: Path) -> None:
    store = Store(tmp_path / "radar.duckdb")
    with pytest.raises(RuntimeError), store.write() as con:
        con.execute("INSERT INTO source_cursors (source_name, etag) VALUES ('a', 'x')")
        raise RuntimeError("crash mid-batch")
    with store.write() as con:
        con.execute("INSERT INTO source_cursors (source_name, etag) VALUES ('b', 'y')")
    assert store.table_counts()["source_cursors"] == 1


def test_an_open_connection_is_migrated_and_holds_the_file_until_closed(tmp_path: Path) -> None:
    """The webhook dispatcher's session keeps one connection across its transactions (Store's public API)."""
    store = Store(tmp_path / "radar.duckdb")
    con = store.open_connection()
    assert con.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] == LATEST_VERSION
    con.execute("INSERT INTO source_cursors (source_name, etag) VALUES ('a', 'x')")
    # While it is open this process has the file read-write, and DuckDB refuses a read-only open.
    with pytest.raises(duckdb.ConnectionException, match="different configuration"):
        duckdb.connect(str(store.path), read_only=True)
    store.close_connection(con)
    with duckdb.connect(str(store.path), read_only=True) as reader:
        assert reader.execute("SELECT etag FROM source_cursors").fetchall() == [("x",)]


def test_a_corrupt_file_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "radar.duckdb"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot open"):
        Store(path).migrate()


# Writer and reader are driven line by line over pipes: every step is a hand-off, so what the
# test asserts holds whatever the speed of the machine.
WRITER = textwrap.dedent(
    """
    import logging, sys
    from infra.store import Store
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(message)s")
    store = Store(sys.argv[1], lock_timeout_s=60)
    for line in sys.stdin:
        batch = int(line.split()[1])
        with store.write() as con:
            con.execute("INSERT INTO source_seen (source_name, entry_key) SELECT 'w', ? || '-' || i::VARCHAR"
                        " FROM range(50) t(i)", [str(batch)])
        print("committed", batch, flush=True)
    """
)
READER = textwrap.dedent(
    """
    import sys
    from infra.store import Store
    store = Store(sys.argv[1], lock_timeout_s=60)
    for line in sys.stdin:
        with store.read() as con:
            print("count", con.execute("SELECT count(*) FROM source_seen").fetchone()[0], flush=True)
            sys.stdin.readline()  # hold the shared lock until told to release it
        print("released", flush=True)
    """
)


def _lines(stream: IO[str]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in stream], daemon=True).start()
    return lines


def _expect(lines: queue.Queue[str], prefix: str) -> str:
    while True:
        line = lines.get(timeout=60)
        if line.startswith(prefix):
            return line.strip()


def _send(child: subprocess.Popen[str], line: str) -> None:
    assert child.stdin is not None
    child.stdin.write(line + "\n")
    child.stdin.flush()


def test_writer_waits_for_a_reader_and_the_reader_sees_each_commit(tmp_path: Path) -> None:
    path = tmp_path / "radar.duckdb"
    Store(path).migrate()
    pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], **pipes)  # type: ignore[call-overload]
    reader = subprocess.Popen([sys.executable, "-c", READER, str(path)], **pipes)  # type: ignore[call-overload]
    try:
        w_out, w_err, r_out = _lines(writer.stdout), _lines(writer.stderr), _lines(reader.stdout)
        seen = []
        for batch in range(1, 6):
            _send(reader, "hold")
            seen.append(int(_expect(r_out, "count").split()[1]))
            _send(writer, f"write {batch}")
            # The writer reports that it found the file locked by the reader and is retrying...
            assert "is locked by another process; retrying" in _expect(w_err, str(path))
            _send(reader, "release")
            _expect(r_out, "released")
            # ...and gets through once the reader lets go, within its lock timeout.
            assert _expect(w_out, "committed") == f"committed {batch}"
        assert seen == [0, 50, 100, 150, 200], "the reader sees every committed batch and nothing more"
    finally:
        for child in (writer, reader):
            assert child.stdin is not None
            child.stdin.close()
            child.wait(timeout=60)
    assert writer.returncode == 0 and reader.returncode == 0
    assert Store(path).table_counts()["source_seen"] == 250


ASKER = textwrap.dedent(
    """
    import sys
    from infra.store import Store
    with Store(sys.argv[1], lock_timeout_s=30).read() as con:
        print("count", con.execute("SELECT count(*) FROM source_seen").fetchone()[0], flush=True)
    """
)


def test_a_held_file_is_let_go_when_another_process_asks_for_it(tmp_path: Path) -> None:
    """The processor keeps the file open between its batches (`hold`); a reader that finds it locked
    asks for it (`<store>.wanted`), and the holder lets go at its next batch end, though its own limit
    (an hour here) is far off: without the request the reader would time out."""
    path = tmp_path / "radar.duckdb"
    store = Store(path)
    seen = "INSERT INTO source_seen (source_name, entry_key) VALUES ('w', ?)"
    with store.write() as con:
        con.execute(seen, ["0"])
    store.hold(3600)
    reader = subprocess.Popen(
        [sys.executable, "-c", ASKER, str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    batches = 0
    try:
        while reader.poll() is None and batches < 2000:  # ~100 s: the reader's own timeout comes first
            batches += 1
            with store.write() as con:  # a batch's commit, then the file held until the next one
                con.execute(seen, [str(batches)])
            store.hold(3600)
            time.sleep(0.05)
        out, err = reader.communicate(timeout=60)
    finally:
        store.release()
    assert reader.returncode == 0, err
    # The reader saw a state some batch had committed, whole.
    assert 1 <= int(out.split()[1]) <= batches + 1
    assert store.wanted_path.exists(), "the reader asked for the file"
    assert Store(path).table_counts()["source_seen"] == batches + 1


def test_readers_share_the_file_without_taking_the_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "radar.duckdb"
    Store(path).migrate()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True);"
            " print('open', flush=True); sys.stdin.readline(); print(c.execute('select 1').fetchone()[0])",
            str(path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        # The holder keeps its read-only connection open until we write to its stdin below.
        reader = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys\nfrom infra.store import Store\n"
                "with Store(sys.argv[1], lock_timeout_s=1.0).read() as c:\n"
                "    print(c.execute('select count(*) from items').fetchone()[0])",
                str(path),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert reader.returncode == 0, reader.stderr
        assert reader.stdout.strip() == "0"
        out, _ = holder.communicate("done\n", timeout=60)
        assert out.strip() == "1", "the holder's connection was still open while the reader read"
    finally:
        holder.kill()
        holder.wait()


def _filled_store(path: Path) -> Store:
    store = Store(path)
    with store.write() as con:
        con.execute(
            "INSERT INTO source_seen (source_name, entry_key) SELECT 's', md5(i::VARCHAR) FROM range(200000) t(i)"
        )
        con.execute("INSERT INTO source_cursors (source_name, etag) VALUES ('a', 'x')")
    return store


def test_a_truncated_file_is_refused_before_any_write(tmp_path: Path) -> None:
    path = tmp_path / "radar.duckdb"
    _filled_store(path)
    os.truncate(path, path.stat().st_size * 8 // 10)
    # DuckDB itself opens such a file and fails only when a query reaches a missing block.
    duckdb.connect(str(path)).close()
    with pytest.raises(StoreDamaged, match=rf"{path} is damaged: .* restore a backup"), Store(path).write():
        pass
    with pytest.raises(StoreDamaged), Store(path).read():
        pass


def test_a_block_damaged_inside_the_file_is_a_damaged_store_and_makes_no_backup(tmp_path: Path) -> None:
    """Ops review: bytes overwritten mid-file (a failed checksum) surfaced as an internal error (exit 3),
    and a backup of such a store left a full-size .partial behind, naming the copy as the damaged file."""
    path = tmp_path / "radar.duckdb"
    _filled_store(path)
    with duckdb.connect(str(path)) as con:
        con.execute("CHECKPOINT")  # the rows into the file's blocks, out of the WAL
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        for offset in range(1 << 20, size // 3, 256 * 1024):  # past the header, into the data blocks
            fh.seek(offset)
            fh.write(os.urandom(4096))
    damaged = pytest.raises(StoreDamaged, match=rf"{path} is damaged: .*[Cc]orrupt.* restore a backup")
    with damaged, Store(path).read() as con:
        con.sql("SELECT count(DISTINCT entry_key) FROM source_seen").fetchall()
    # Named as the store (not as the copy), whether the copy or the store's own open finds it.
    with pytest.raises(StoreDamaged, match=rf"{path} is damaged: .*[Cc]orrupt"):
        Store(path).backup(tmp_path / "b.duckdb")
    assert not list(tmp_path.glob("b.duckdb*")), "neither the copy nor its .partial is left"


def test_a_backup_into_a_directory_is_refused_and_restores_in_one_second_keep_every_file(tmp_path: Path) -> None:
    path = tmp_path / "radar.duckdb"
    store = _filled_store(path)
    (tmp_path / "backups").mkdir()
    with pytest.raises(StoreError, match="is a directory: give the backup a file name"):
        store.backup(tmp_path / "backups")
    assert not list(tmp_path.glob("backups.partial*"))
    backup = store.backup(tmp_path / "backups" / "one.duckdb")
    kept = [Store(path).restore(backup), Store(path).restore(backup)]
    assert None not in kept and kept[0] != kept[1] and all(k.exists() for k in kept if k), kept


HOLDER = textwrap.dedent(
    """
    import sys
    from infra.store import Store
    with Store(sys.argv[1]).write() as con:
        con.execute("INSERT INTO source_cursors (source_name, etag) VALUES ('mid-batch', 'y')")
        print("holding", flush=True)
        sys.stdin.readline()  # a batch's commit that takes its time
    print("committed", flush=True)
    sys.stdin.readline()
    """
)


def test_a_restore_waits_for_a_commit_in_progress_which_lands_in_the_file_kept_aside(tmp_path: Path) -> None:
    path = tmp_path / "radar.duckdb"
    backup = _filled_store(path).backup(tmp_path / "backup.duckdb")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        # Against a holder that does not let go within the timeout: a clear refusal, nothing moved.
        with pytest.raises(StoreLocked, match="nothing was restored; stop the processor"):
            Store(path, lock_timeout_s=0.5).restore(backup)
        assert not [*tmp_path.glob("radar.duckdb.restoring"), *tmp_path.glob("radar.duckdb.replaced-*")]
        done: list[Path | None] = []
        restoring = threading.Thread(target=lambda: done.append(Store(path, lock_timeout_s=60).restore(backup)))
        restoring.start()
        time.sleep(1.0)
        assert not done and not list(tmp_path.glob("radar.duckdb.replaced-*")), "it waits for the commit"
        _send(holder, "commit")
        assert holder.stdout.readline().strip() == "committed"
        restoring.join(timeout=60)
    finally:
        holder.communicate("exit\n", timeout=60)
    [kept] = done
    assert kept is not None and kept.exists()
    with duckdb.connect(str(kept), read_only=True) as con:
        assert con.execute("SELECT etag FROM source_cursors WHERE source_name = 'mid-batch'").fetchall() == [("y",)]
    restored = Store(path)
    assert restored.table_counts()["source_cursors"] == 1, "the path holds the backup, without the later batch"
    assert restored.table_counts()["source_seen"] == 200000


RESTORER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from infra.store import Store
    print("kept", Store(sys.argv[1], lock_timeout_s=30).restore(Path(sys.argv[2])), flush=True)
    """
)


@pytest.mark.parametrize("restorer", ["process", "thread"])
def test_a_restore_gets_a_file_its_holder_keeps_open_and_no_batch_is_lost(tmp_path: Path, restorer: str) -> None:
    """The processor keeps the file open between batches (`hold`, an hour here); a restore, from another
    process (`radar store restore`) or from a thread of the holder's own process, asks for it and the
    holder lets go at its next batch end. Every batch lands whole in one file or the other: the ones
    committed before the swap in the file kept aside, the later ones in the restored file."""
    path = tmp_path / "radar.duckdb"
    store = Store(path)
    seen = "INSERT INTO source_seen (source_name, entry_key) VALUES ('batch', ?)"
    with store.write() as con:
        con.execute(seen, ["0"])
    backup = store.backup(tmp_path / "backup.duckdb")  # holds batch 0
    done: list[str] = []
    if restorer == "process":
        child = subprocess.Popen(
            [sys.executable, "-c", RESTORER, str(path), str(backup)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        finished = lambda: child.poll() is not None  # noqa: E731
    else:
        worker = threading.Thread(target=lambda: done.append(str(Store(path, lock_timeout_s=30).restore(backup))))
        worker.start()
        finished = lambda: not worker.is_alive()  # noqa: E731
    store.hold(3600)
    batches = 0
    try:
        while not finished() and batches < 1000:  # ~50 s: the restorer's own timeout comes first
            batches += 1
            with store.write() as con:  # a batch's commit, then the file held until the next one
                con.execute(seen, [str(batches)])
            store.hold(3600)
            time.sleep(0.05)
        for _ in range(3):  # batches after the swap go to the restored file
            batches += 1
            with store.write() as con:
                con.execute(seen, [str(batches)])
    finally:
        store.release()
    if restorer == "process":
        out, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
        done.append(out.split()[1])
    else:
        worker.join(timeout=60)
    [kept] = done
    assert kept != "None" and batches < 1000

    def rows(file: Path | str) -> set[int]:
        with duckdb.connect(str(file), read_only=True) as con:
            return {int(r[0]) for r in con.execute("SELECT entry_key FROM source_seen").fetchall()}

    before, after = rows(kept), rows(path)
    swapped = max(before)
    assert before == set(range(swapped + 1)), "the kept file holds every batch up to the swap"
    assert after == {0} | set(range(swapped + 1, batches + 1)), "the restored file: the backup, then the rest"
    assert after - {0}, "batches went on after the restore"


def test_backup_and_restore_round_trip_through_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "data" / "radar.duckdb"
    _filled_store(path)
    config = tmp_path / "radar.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n[store]\npath = "{path}"\n')

    def radar(*args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RADAR_")}
        return subprocess.run(
            [sys.executable, "-m", "app.cli", "--config", str(config), *args],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )

    info = radar("store", "info")
    # Piped: the path on one line of its own (a table title wrapped it at the table's width).
    assert info.returncode == 0 and f"{path} (schema v" in info.stdout.splitlines()[0], info.stdout
    backup = tmp_path / "radar-backup.duckdb"
    made = radar("store", "backup", "--out", str(backup))
    assert made.returncode == 0, made.stderr
    # Review (session 19): a second backup to the same name replaced the first without a word.
    again = radar("store", "backup", "--out", str(backup))
    assert again.returncode == 1 and "exists (an earlier backup?)" in " ".join(again.stderr.split()), again.stderr
    assert radar("store", "backup", "--out", str(backup), "--force").returncode == 0
    os.truncate(path, path.stat().st_size // 2)
    for command in (["store", "info"], ["store", "check"], ["dlq", "list"]):
        broken = radar(*command)
        assert broken.returncode == 1, (command, broken.stderr)
        assert f"{path} is damaged" in " ".join(broken.stderr.split()) and "Traceback" not in broken.stderr
    restored = radar("store", "restore", str(backup))
    assert restored.returncode == 0, restored.stderr
    assert radar("store", "check").returncode == 0
    assert Store(path).table_counts()["source_seen"] == 200000
    kept = list(path.parent.glob("radar.duckdb.replaced-*"))
    assert len(kept) == 1 and kept[0].stat().st_size > 0, "the damaged file is kept aside, not deleted"


def test_a_migration_landed_out_of_order_is_still_applied(tmp_path: Path) -> None:
    path = tmp_path / "radar.duckdb"
    Store(path).migrate()
    # A store that got later migrations before 004 landed: 004's table and row are missing.
    with duckdb.connect(str(path)) as con:
        con.execute("DROP TABLE topic_incarnations")
        con.execute("DELETE FROM schema_migrations WHERE version = 4")
    store = Store(path)
    assert not store._current_read_only(), "a store missing a migration is not current"
    assert store.migrate() == ["004_topic_incarnations.sql"]
    assert "topic_incarnations" in Store(path).table_counts()
