"""DuckDB store: versioned migrations, transactions, and a writer and a reader process sharing the file."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from infra.store import LATEST_VERSION, MIGRATIONS, Store, StoreError

EXPECTED_TABLES = {
    "items", "events", "event_items", "score_components", "consumer_offsets", "alerts_sent",
    "digests", "dead_letters", "source_cursors", "source_seen", "schema_migrations",
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


def test_a_corrupt_file_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "radar.duckdb"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot open"):
        Store(path).migrate()


WRITER = textwrap.dedent(
    """
    import sys, time
    from infra.store import Store
    store = Store(sys.argv[1], lock_timeout_s=30)
    for batch in range(int(sys.argv[2])):
        with store.write() as con:
            con.execute("INSERT INTO source_seen (source_name, entry_key) SELECT 'w', ? || '-' || i::VARCHAR"
                        " FROM range(50) t(i)", [str(batch)])
        time.sleep(0.01)  # the processor's Beam work happens with the file released
    print("writer done")
    """
)
READER = textwrap.dedent(
    """
    import sys, time
    from infra.store import Store
    store = Store(sys.argv[1], lock_timeout_s=30)
    target, seen, deadline = int(sys.argv[2]) * 50, [], time.monotonic() + 60
    while time.monotonic() < deadline:
        with store.read() as con:
            n = con.execute("SELECT count(*) FROM source_seen").fetchone()[0]
            time.sleep(0.005)  # a digest query holds its read lock a little while
        if not seen or seen[-1] != n:
            seen.append(n)
        if n >= target:
            break
    print(" ".join(map(str, seen)))
    """
)


def test_writer_and_reader_processes_both_make_progress(tmp_path: Path) -> None:
    path = tmp_path / "radar.duckdb"
    Store(path).migrate()
    batches = 60
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(batches)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    reader = subprocess.Popen([sys.executable, "-c", READER, str(path), str(batches)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    w_out, w_err = writer.communicate(timeout=120)
    r_out, r_err = reader.communicate(timeout=120)
    assert writer.returncode == 0, w_err
    assert reader.returncode == 0, r_err
    assert "writer done" in w_out
    seen = [int(x) for x in r_out.split()]
    assert seen[-1] == batches * 50, "the reader saw the final state"
    assert seen == sorted(seen), "committed batches never disappear"
    intermediate = [n for n in seen if 0 < n < batches * 50]
    assert len(intermediate) >= 3, f"the reader got in between writer batches: {seen}"
    assert Store(path).table_counts()["source_seen"] == batches * 50


def test_readers_share_the_file_without_taking_the_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "radar.duckdb"
    Store(path).migrate()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1], read_only=True);"
         " print('open', flush=True); time.sleep(4)", str(path)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        reader = subprocess.run(
            [sys.executable, "-c", "import sys\nfrom infra.store import Store\n"
             "with Store(sys.argv[1], lock_timeout_s=1.0).read() as c:\n"
             "    print(c.execute('select count(*) from items').fetchone()[0])", str(path)],
            capture_output=True, text=True, timeout=60,
        )
        assert reader.returncode == 0, reader.stderr
        assert reader.stdout.strip() == "0"
    finally:
        holder.kill()
        holder.wait()
