"""The stack `make bench` runs (`python -m bench`): its settings, its throwaway databases
and Redis db, and the processes it starts and stops, with what each scenario gets to work with.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess  # starts the stack it benchmarks  # nosec B404
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stack_env(args: argparse.Namespace, sandbox_port: int) -> dict[str, str]:
    server = args.postgres.rstrip("/")
    return {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "SECRET_KEY": "partyline-bench-secret-key-not-for-production-0123456789",
        "SALT_KEY": "partyline-bench-salt",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_COOKIES": "false",
        "SECURE_HSTS_SECONDS": "0",
        "TRUSTED_PROXIES": "127.0.0.1",
        "SIGNUP_RATE_PER_IP": "1000000/m",
        "KLAVIYO_SANDBOX": "true",
        "SANDBOX_URL": f"http://127.0.0.1:{sandbox_port}",
        "DATABASE_URL": f"{server}/{args.database}",
        "SANDBOX_DATABASE_URL": f"{server}/{args.database}_sandbox",
        "CACHE_URL": args.redis,
        "WEB_CONCURRENCY": str(args.web_concurrency),
        "LOG_LEVEL": args.log_level,
    }


def admin_sql(args: argparse.Namespace, *statements: str) -> None:
    import psycopg

    with psycopg.connect(f"{args.postgres.rstrip('/')}/postgres", autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def databases_create(args: argparse.Namespace) -> None:
    databases_drop(args)
    admin_sql(args, f"CREATE DATABASE {args.database}", f"CREATE DATABASE {args.database}_sandbox")


def databases_drop(args: argparse.Namespace) -> None:
    admin_sql(
        args,
        f"DROP DATABASE IF EXISTS {args.database} WITH (FORCE)",
        f"DROP DATABASE IF EXISTS {args.database}_sandbox WITH (FORCE)",
    )


def redis_flush(args: argparse.Namespace) -> None:
    import redis

    redis.Redis.from_url(args.redis).flushdb()


class Stack:
    """The processes it started, each logging to a file in `logdir`; `stop()` ends them."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.processes: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, command: list[str], env: dict[str, str]) -> None:
        log = open(self.logdir / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
        # The bench's own fixed commands (this interpreter, manage.py, gunicorn); no shell.
        process = subprocess.Popen(  # noqa: S603  # nosec B603
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.processes.append((name, process))

    def check(self) -> None:
        for name, process in self.processes:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited ({process.returncode}):\n{self.tail(name)}")

    def log(self, name: str) -> str:
        """What the process started as `name` has written so far."""
        return (self.logdir / f"{name}.log").read_text(errors="replace")

    def tail(self, name: str, lines: int = 30) -> str:
        return "\n".join(self.log(name).splitlines()[-lines:])

    def pids(self, prefix: str) -> list[int]:
        """The processes started under a name beginning with `prefix`, and their children (a
        gunicorn master's workers)."""
        pids = []
        for name, process in self.processes:
            if name.startswith(prefix) and process.poll() is None:
                pids += [process.pid, *_descendants(process.pid)]
        return pids

    def cpu_seconds(self) -> dict[str, dict[int, float]]:
        """CPU time used so far (user + system) by each process of each kind: the web tier,
        the task workers, the sandbox Klaviyo, and every PostgreSQL process on the machine."""
        kinds = {"web": "gunicorn", "task workers": "worker-", "sandbox Klaviyo": "sandbox"}
        used = {
            kind: {pid: _cpu_seconds(pid) for pid in self.pids(prefix)}
            for kind, prefix in kinds.items()
        }
        used["PostgreSQL"] = {pid: _cpu_seconds(pid) for pid in _postgres_pids()}
        return used

    def pause(self, prefix: str) -> None:
        """Stop (SIGSTOP) the processes started under names beginning with `prefix`."""
        for name, process in self.processes:
            if name.startswith(prefix):
                os.killpg(process.pid, signal.SIGSTOP)

    def resume(self, prefix: str) -> None:
        for name, process in self.processes:
            if name.startswith(prefix):
                os.killpg(process.pid, signal.SIGCONT)

    def reset_peak_memory(self) -> None:
        """Start the peak resident set size (VmHWM) of every process over from now (Linux)."""
        for pid in self.pids(""):
            with contextlib.suppress(OSError):
                Path(f"/proc/{pid}/clear_refs").write_text("5")

    def peak_memory_mb(self, prefix: str) -> float:
        """The largest peak resident set size, in MB, among one kind of process since the last
        reset (for gunicorn: of its workers, the master's own being the smallest)."""
        peaks = [_status_kib(pid, "VmHWM") for pid in self.pids(prefix)]
        return round(max(peaks, default=0) / 1024, 1)

    def stop(self, prefix: str = "") -> None:
        """End the processes started under names beginning with `prefix` (all by default);
        `check()` no longer looks at them."""
        chosen = [process for name, process in self.processes if name.startswith(prefix)]
        self.processes = [(n, p) for n, p in self.processes if not n.startswith(prefix)]
        for process in reversed(chosen):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in chosen:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def wait_http(url: str, stack: Stack, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        stack.check()
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (a local http URL)  # nosec B310
                return
        except OSError as error:
            if getattr(error, "code", None):  # an HTTP answer (404 at a bare root) is up
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {seconds:g} s")


def klaviyo_calls() -> Counter[str]:
    """The sandbox's call log so far, counted by operation and status ("get_lists 200")."""
    from django.db.models import Count

    from klaviyo_sandbox.models import CallLog
    from klaviyo_sandbox.routers import DATABASE

    calls: Counter[str] = Counter()
    for row in (
        CallLog.objects.using(DATABASE)
        .values("method", "operation", "status")
        .annotate(n=Count("id"))
    ):
        calls[f"{row['operation'] or row['method']} {row['status']}"] += row["n"]
    return calls


# The sandbox's operations that write events (`POST /api/events`, its bulk create job).
EVENT_WRITE_OPERATIONS = ("create_event", "bulk_create_events")


def event_writes(calls: Counter[str]) -> int:
    """Event write calls in `klaviyo_calls()`'s counts, whatever Klaviyo answered."""
    return sum(n for key, n in calls.items() if key.split(" ")[0] in EVENT_WRITE_OPERATIONS)


def target(name: str, met: bool, figure: str) -> dict[str, object]:
    """One target of the issue's, as every scenario reports it: printed as met or not."""
    return {"target": name, "met": bool(met), "figure": figure}


@dataclass
class Context:
    """What a scenario gets: the command line, the running stack and where to reach it."""

    args: argparse.Namespace
    stack: Stack
    env: dict[str, str]
    base_url: str
    sandbox_url: str


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            children = Path(f"/proc/{pid}/task/{task}/children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found += [child, *_descendants(child)]
    return found


def _status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class TemporaryPostgres:
    """A PostgreSQL cluster of the bench's own, in a temporary directory, on a free port.

    The refresh storm holds about two connections per caller (its own and the sandbox's), so
    64 callers need more than the 100 a stock server allows: this one allows
    `max_connections`, and nobody else's databases or settings are touched. Settings are
    otherwise PostgreSQL's defaults, as a fresh install has them.
    """

    def __init__(self, *, max_connections: int = 300) -> None:
        self.max_connections = max_connections
        self.directory = Path(tempfile.mkdtemp(prefix="partyline-bench-pg-"))
        self.port = free_port()
        self.bin = postgres_bin()

    def _run(self, *command: str) -> None:
        # As root, PostgreSQL's tools must run as another user (they refuse root).
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run(  # noqa: S603 (PostgreSQL's own tools, fixed arguments)  # nosec B603
            [*prefix, *command], check=True, capture_output=True, text=True
        )

    def start(self) -> str:
        if os.geteuid() == 0:
            shutil.chown(self.directory, user="postgres")
        data = str(self.directory / "data")
        self._run(str(self.bin / "initdb"), "-D", data, "-U", "postgres", "-A", "trust")
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory} "
            f"-c max_connections={self.max_connections}"
        )
        self._run(
            str(self.bin / "pg_ctl"), "-D", data, "-o", options, "-l", f"{data}/log", "-w", "start"
        )
        return f"postgres://postgres@127.0.0.1:{self.port}"

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(
                str(self.bin / "pg_ctl"), "-D", str(self.directory / "data"), "-m", "fast", "stop"
            )
        shutil.rmtree(self.directory, ignore_errors=True)


def postgres_bin() -> Path:
    """Where initdb and pg_ctl are: on PATH, or Debian's /usr/lib/postgresql/<version>/bin."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda path: int(path.parts[-3])
    )
    if not versions:
        raise RuntimeError("initdb not found: install PostgreSQL or pass --postgres URL")
    return versions[-1].parent


def cpu_spent(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]) -> dict:
    """Seconds of CPU each kind spent between two `Stack.cpu_seconds()`: of the processes
    alive at the end (a PostgreSQL backend that exited meanwhile takes its time with it)."""
    return {
        kind: round(
            sum(seconds - before.get(kind, {}).get(pid, 0.0) for pid, seconds in pids.items()), 1
        )
        for kind, pids in after.items()
    }


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # utime and stime, fields 14 and 15 of proc(5), counted from after the command's ")".
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in {"postgres", "postmaster"}:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids
