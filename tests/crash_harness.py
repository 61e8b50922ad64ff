"""Crash the processor at named phases and check what survived: shared by the test and `bench/crash_soak.py`.

A child `radar process --once` runs with `RADAR_CRASH_AT=<phase>:<n>`; it reports the phase on
stderr and either exits on the spot (`exit`) or waits there for a real SIGKILL from us
(`kill`). No sleeps: each crash happens at the phase it names, on any machine speed.

`python -m app.cli` spends ~3 s importing Beam, typer and the connectors before it does anything,
and the phase crash test starts 15 of them. So `Child` forks each `python -m app.cli ...` from a
forkserver that imported those modules once: still a process of its own (its own environment, Kafka
clients, DuckDB handle and stderr pipe) running `app.cli.main` with the command's arguments, and
ending as the command would: its exit code, `os._exit` at a crash point or a real SIGKILL. Other
commands run as fresh interpreters.
"""

from __future__ import annotations

import atexit
import importlib
import multiprocessing
import os
import queue
import signal
import subprocess
import sys
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import IO

import duckdb
from kafka import TopicPartition

from infra import crashpoints
from infra.config import Settings
from infra.crashpoints import CRASH_EXIT_CODE, REPORT_PREFIX
from infra.kafka import end_offsets, make_consumer, make_producer, partitions_of, read_range
from schemas.envelope import dump_envelope, parse_envelope
from tests.factories import raw_post

PROCESSOR_PHASES = (
    "after-state-read",
    "after-pipeline",
    "after-dlq-send",
    "after-alert-send",
    "commit-after-items",
    "commit-before-end",
    "after-commit",
)
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Crash:
    phase: str
    count: int  # die the count-th time the phase is reached in that child
    mode: str  # "exit" (os._exit at the point) or "kill" (SIGKILL sent by us while it waits there)


def schedule(rounds: int, phases: tuple[str, ...] = PROCESSOR_PHASES) -> list[Crash]:
    """Every phase `rounds` times; odd rounds exit, even rounds SIGKILL; later rounds reach further in."""
    return [Crash(phase, 1 + r % 2, "exit" if r % 2 == 0 else "kill") for r in range(rounds) for phase in phases]


@dataclass
class Workload:
    """What was produced: good records by coordinates, and the coordinates of the poison ones."""

    key_of: dict[tuple[int, int], str]
    poison: set[tuple[int, int]]


def produce_workload(settings: Settings, records: int, poison_every: int) -> Workload:
    """`records` posts (a third social); every `poison_every`-th value is broken JSON (a dead letter)."""
    producer = make_producer(settings.kafka.bootstrap, settings.kafka)
    sent: list[tuple[object, str | None]] = []
    for i in range(records):
        if poison_every and i % poison_every == poison_every - 1:
            future = producer.send(
                settings.kafka.raw_topic,
                key=f"poison-{i}".encode(),
                value=b'{"schema": "raw.post", "version": 1, "key": ',
            )
            sent.append((future, None))
            continue
        post = raw_post(i, social=i % 3 == 0)
        sent.append(
            (producer.send(settings.kafka.raw_topic, key=post.key.encode(), value=dump_envelope(post)), post.key)
        )
    producer.flush()
    key_of: dict[tuple[int, int], str] = {}
    poison: set[tuple[int, int]] = set()
    for future, key in sent:
        meta = future.get(30)  # type: ignore[attr-defined]
        if key is None:
            poison.add((meta.partition, meta.offset))
        else:
            key_of[(meta.partition, meta.offset)] = key
    producer.close()
    return Workload(key_of, poison)


def write_config(settings: Settings, path: Path, *, batch_max_records: int, alert_min_score: float) -> Path:
    path.write_text(
        f'data_dir = "{settings.data_dir}"\n'
        f'[kafka]\nbootstrap = "{settings.kafka.bootstrap}"\nraw_topic = "{settings.kafka.raw_topic}"\n'
        f'dlq_topic = "{settings.kafka.dlq_topic}"\nalerts_topic = "{settings.kafka.alerts_topic}"\n'
        f'[store]\npath = "{settings.store.path}"\n'
        f"[processor]\nbatch_max_records = {batch_max_records}\n"
        f"[alerts]\nmin_score = {alert_min_score}\n"
    )
    return path


def clean_config(settings: Settings, path: Path, *, batch_max_records: int, alert_min_score: float) -> Path:
    """A config reading the same raw topic into its own DuckDB file and DLQ/alert topics: the uncrashed run."""
    kafka = settings.kafka.model_copy(
        update={
            "dlq_topic": settings.kafka.dlq_topic + ".clean",
            "alerts_topic": settings.kafka.alerts_topic + ".clean",
        }
    )
    store = settings.store.model_copy(update={"path": path.with_suffix(".duckdb")})
    clean = settings.model_copy(update={"kafka": kafka, "store": store, "data_dir": path.parent / "clean-data"})
    return write_config(clean, path, batch_max_records=batch_max_records, alert_min_score=alert_min_score)


def child_env(config: Path, crash: Crash | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RADAR_")}
    env["RADAR_CONFIG"] = str(config)
    env["PYTHONPATH"] = str(ROOT)
    if crash is not None:
        env["RADAR_CRASH_AT"] = f"{crash.phase}:{crash.count}"
        env["RADAR_CRASH_MODE"] = "pause" if crash.mode == "kill" else "exit"
    return env


def _lines(stream: object, sink: queue.Queue[str | None]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        sink.put(line)
    sink.put(None)


_CLI = [sys.executable, "-m", "app.cli"]
# What a `process` or `ingest` child imports; the rest (a few dozen small modules) it imports itself.
_forks = multiprocessing.get_context("forkserver")
_forks.set_forkserver_preload(["app.cli", "app.processor", "app.pipeline", "tests.crash_harness"])


def _cli_child(argv: list[str], env: dict[str, str], cwd: str, stderr: Connection) -> None:
    """A forked child's body: the environment and streams of a fresh `python -m app.cli`, then its main."""
    os.dup2(stderr.fileno(), 2)
    stderr.close()
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.close(null)
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    # The crash plan is read once at import, and the forkserver imported the module without one.
    importlib.reload(crashpoints)
    from app.cli import main

    try:
        main(argv)  # ends in sys.exit(code): the child's exit code
    finally:
        atexit._run_exitfuncs()  # what interpreter exit runs; a multiprocessing child skips it


class Child:
    """A running `radar` child: `stderr` (text lines), `kill()` (SIGKILL), `wait()` (its exit code, -9 if killed)."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self._popen: subprocess.Popen[str] | None = None
        self._fork: multiprocessing.process.BaseProcess | None = None
        if command[: len(_CLI)] == _CLI:
            read_fd, write_fd = os.pipe()
            writer = Connection(write_fd, readable=False)
            self._fork = _forks.Process(
                target=_cli_child, args=(command[len(_CLI) :], env, str(ROOT), writer), daemon=False
            )
            self._fork.start()
            writer.close()  # the child holds the only write end: its exit is our EOF
            self.stderr: IO[str] = os.fdopen(read_fd, "r", errors="replace")
        else:
            self._popen = subprocess.Popen(
                command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
            )
            assert self._popen.stderr is not None
            self.stderr = self._popen.stderr

    def kill(self) -> None:
        if self._fork is not None:
            self._fork.kill()
        else:
            assert self._popen is not None
            self._popen.kill()

    def wait(self, timeout: float) -> int:
        if self._fork is not None:
            self._fork.join(timeout)
            code = self._fork.exitcode
            assert code is not None, f"child {self._fork.pid} still running after {timeout} s"
            return code
        assert self._popen is not None
        return self._popen.wait(timeout=timeout)


def run(command: list[str], env: dict[str, str], timeout_s: float = 600) -> tuple[int, str]:
    """Run a child to its end: its exit code and its stderr."""
    child = Child(command, env)
    stderr: list[str] = []
    reader = threading.Thread(target=lambda: stderr.extend(child.stderr), daemon=True)
    reader.start()
    try:
        reader.join(timeout_s)  # EOF on stderr: the child has exited
    finally:
        if reader.is_alive():
            child.kill()
        code = child.wait(timeout=60)
        reader.join(timeout=10)
        child.stderr.close()
    return code, "".join(stderr)


def crash_once(command: list[str], env: dict[str, str], crash: Crash, timeout_s: float = 600) -> str:
    """Run the child until it reports `crash`; return its report line. Fails if it ends otherwise."""
    child = Child(command, env)
    lines: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=_lines, args=(child.stderr, lines), daemon=True)
    reader.start()
    tail: list[str] = []
    report = None
    try:
        while report is None:
            line = lines.get(timeout=timeout_s)
            if line is None:
                break
            if line.startswith(REPORT_PREFIX):
                report = line.strip()
                if crash.mode == "kill":
                    child.kill()
            else:
                tail = (tail + [line])[-20:]
    finally:
        if report is None:
            child.kill()
        returncode = child.wait(timeout=60)
        reader.join(timeout=10)
        child.stderr.close()
    expected = f"{REPORT_PREFIX} {crash.phase} {crash.count}"
    assert report == expected, (
        f"the child did not reach {crash.phase}:{crash.count} (exit {returncode}): {''.join(tail)}"
    )
    died = -signal.SIGKILL if crash.mode == "kill" else CRASH_EXIT_CODE
    assert returncode == died, f"{crash}: exit {returncode}, expected {died}"
    return report


# Every processor run of one workload scores as of the same moment: a run crashed and restarted
# minutes apart, or a reference run started after the crashes, must agree to the point.
AS_OF = datetime(2026, 12, 1, tzinfo=UTC)


def process_command(*, follow: bool = False) -> list[str]:
    """`radar process --once`; with `follow`, `--follow` (a child that only ends at its crash point)."""
    mode = "--follow" if follow else "--once"
    return [sys.executable, "-m", "app.cli", "process", mode, "--as-of", AS_OF.isoformat()]


@dataclass
class Verdict:
    items: int
    lost: int
    doubled: int
    misplaced: int
    dead_letters: int
    dead_letters_missing_on_topic: int
    dead_letters_doubled_in_store: int
    poison_not_dead_lettered: int
    alerts: int
    alerts_missing_on_topic: int
    alerts_not_recorded: int
    offsets_at_end: bool
    topic_repeats: dict[str, int] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return (
            not any(
                (
                    self.lost,
                    self.doubled,
                    self.misplaced,
                    self.dead_letters_missing_on_topic,
                    self.dead_letters_doubled_in_store,
                    self.poison_not_dead_lettered,
                    self.alerts_missing_on_topic,
                    self.alerts_not_recorded,
                )
            )
            and self.offsets_at_end
        )


def _topic(settings: Settings, topic: str) -> list[object]:
    consumer = make_consumer(settings.kafka.bootstrap, settings.kafka)
    try:
        tps = partitions_of(consumer, topic)
        ends = end_offsets(consumer, tps)
        return [parse_envelope(r.value) for tp in tps for r in read_range(consumer, tp, 0, ends[tp])]
    finally:
        consumer.close()


def verify(settings: Settings, workload: Workload) -> Verdict:
    """Compare DuckDB and the DLQ/alert topics with what was produced."""
    with duckdb.connect(str(settings.store.path), read_only=True) as con:
        rows = con.execute("SELECT item_id, kafka_partition, kafka_offset FROM items").fetchall()
        letters = con.execute("SELECT dead_letter_id, kafka_partition, kafka_offset FROM dead_letters").fetchall()
        alerts = [r[0] for r in con.execute("SELECT alert_id FROM alerts_sent").fetchall()]
        stored = dict(con.execute("SELECT partition, next_offset FROM consumer_offsets").fetchall())
    ids = Counter(r[0] for r in rows)
    expected = set(workload.key_of.values())
    dlq_ids = Counter(d.id for d in _topic(settings, settings.kafka.dlq_topic))  # type: ignore[attr-defined]
    alert_ids = Counter(a.alert_id for a in _topic(settings, settings.kafka.alerts_topic))  # type: ignore[attr-defined]
    letter_ids = Counter(r[0] for r in letters)
    consumer = make_consumer(settings.kafka.bootstrap, settings.kafka)
    ends = end_offsets(consumer, [TopicPartition(settings.kafka.raw_topic, p) for p in stored])
    consumer.close()
    return Verdict(
        items=len(ids),
        lost=len(expected - set(ids)),
        doubled=sum(n - 1 for n in ids.values()) + len(set(ids) - expected),
        misplaced=sum(1 for item_id, p, o in rows if workload.key_of.get((p, o)) != item_id),
        dead_letters=len(letter_ids),
        dead_letters_missing_on_topic=len(set(letter_ids) - set(dlq_ids)),
        dead_letters_doubled_in_store=sum(n - 1 for n in letter_ids.values()),
        poison_not_dead_lettered=len(workload.poison - {(p, o) for _, p, o in letters}),
        alerts=len(alerts),
        alerts_missing_on_topic=len(set(alerts) - set(alert_ids)) + len(set(alert_ids) - set(alerts)),
        alerts_not_recorded=len(alerts) - len(set(alerts)),
        offsets_at_end={tp.partition: e for tp, e in ends.items()} == stored,
        topic_repeats={"dlq": sum(n - 1 for n in dlq_ids.values()), "alerts": sum(n - 1 for n in alert_ids.values())},
    )


# What a batch writes, minus the wall-clock columns (processed_at, updated_at) that differ by design.
_CONTENT = {
    "items": "SELECT item_id, title, duplicate_of, duplicate_kind, category, event_id, kafka_partition, kafka_offset,"
    " dedupe_signature FROM items",
    "events": "SELECT event_id, title, category, verification, signal_score, items, publishers FROM events",
    "event_items": "SELECT event_id, item_id FROM event_items",
    # Every run scores as of AS_OF, so recency's reason ("first seen ... before <as_of>") matches too.
    "score_components": "SELECT event_id, name, points, reason FROM score_components",
    "dead_letters": "SELECT dead_letter_id, stage, reason, kafka_partition, kafka_offset FROM dead_letters",
    "alerts_sent": "SELECT alert_id, event_id, level, signal_score FROM alerts_sent",
    "consumer_offsets": "SELECT consumer, topic, partition, next_offset FROM consumer_offsets",
}


def store_differences(a: Path, b: Path) -> dict[str, int]:
    """Rows present in one store and not the other, per table (an empty dict: same contents)."""
    out: dict[str, int] = {}
    for table, sql in _CONTENT.items():
        with duckdb.connect(str(a), read_only=True) as con:
            left = Counter(con.execute(sql).fetchall())
        with duckdb.connect(str(b), read_only=True) as con:
            right = Counter(con.execute(sql).fetchall())
        diff = sum(((left - right) + (right - left)).values())
        if diff:
            out[table] = diff
    return out
