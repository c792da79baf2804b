"""The processes `make bench` measures, started as production starts them and stopped at exit.

- PostgreSQL: a throwaway cluster (fsync on, as production runs it) on a free port, the
  way `.ci/run` starts one, or the database `TEST_DATABASE_URL` names (its tables are
  dropped first).
- The embedded Stripe sandbox, with a latency setting (`SANDBOX_LATENCY_MS`).
- An SMTP server that accepts and drops mail (production needs `MAIL_URL`).
- The web server and the queue workers, by the Procfile's own command lines.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BIN = Path(PYTHON).parent
API_KEY = "sk_test_bench"
WEBHOOK_SECRET = "whsec_bench_" + secrets.token_hex(8)


class BenchSetupError(RuntimeError):
    """A process the benchmark needs did not start; the message says which and why."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(
    port: int, what: str, process: subprocess.Popen[bytes], timeout: float = 30
) -> None:
    """Wait until something listens on `port`; fail naming `what` if its process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchSetupError(f"{what} exited with status {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise BenchSetupError(f"{what} did not listen on port {port} within {timeout:.0f} s")


def wait_for_url(
    url: str, what: str, process: subprocess.Popen[bytes], timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchSetupError(f"{what} exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 (our own server)
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise BenchSetupError(f"{what} did not answer {url} within {timeout:.0f} s")


def procfile_line(name: str) -> str | None:
    """The Procfile's command for process type `name` (`web`, `worker`), or None."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        kind, _, command = line.partition(":")
        if kind.strip() == name:
            return command.strip()
    return None


@dataclass
class Process:
    """A started process (its own process group) and the log it writes."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def stop(self, timeout: float = 10) -> None:
        stop_group(self.popen, timeout)

    def tail(self, lines: int = 20) -> str:
        return tail_of(self.log, lines)


def stop_group(popen: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """SIGTERM a process's group, SIGKILL it after `timeout`, and reap it."""
    if popen.poll() is not None:
        return
    try:
        os.killpg(popen.pid, signal.SIGTERM)
        popen.wait(timeout)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, signal.SIGKILL)
        popen.wait()


def tail_of(log: Path, lines: int) -> str:
    """The last `lines` lines of a log ("" when it cannot be read)."""
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def start(name: str, argv: list[str], folder: Path, env: Mapping[str, str]) -> Process:
    log = folder / f"{name}.log"
    with log.open("ab") as out:
        popen = subprocess.Popen(  # noqa: S603 (our own commands)
            argv,
            cwd=ROOT,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Process(name, popen, log)


@dataclass
class Postgres:
    """A database URL, and how to stop the cluster when this run started one."""

    url: str
    version: str
    stop_command: list[str] | None = None
    data_dir: Path | None = None

    @property
    def postmaster_pid(self) -> int | None:
        """The cluster's main process, when this run started it."""
        if self.data_dir is None or not (self.data_dir / "postmaster.pid").exists():
            return None
        return int((self.data_dir / "postmaster.pid").read_text().split()[0])

    def stop(self) -> None:
        if self.stop_command:
            subprocess.run(self.stop_command, capture_output=True, check=False)  # noqa: S603


def _install(packages: list[str]) -> None:
    """Debian packages the benchmark needs, installed the way `.ci/run` installs its own."""
    if not shutil.which("apt-get") or os.geteuid() != 0:
        raise BenchSetupError(
            f"{' and '.join(packages)} missing: install them (Debian: apt-get install "
            f"{' '.join(packages)}) or set TEST_DATABASE_URL for PostgreSQL"
        )
    print(f"Installing {' '.join(packages)}…", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=True)  # noqa: S607
    subprocess.run(  # noqa: S603 (our own commands)
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],  # noqa: S607
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def ensure_tools(need_postgres: bool) -> None:
    missing = [] if shutil.which("wrk") else ["wrk"]
    if need_postgres and not glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        missing.append("postgresql")
    if missing:
        _install(missing)


def _server_version(url: str) -> str:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        row = connection.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


def postgres(folder: Path) -> Postgres:
    """`TEST_DATABASE_URL` emptied, or a throwaway cluster with fsync on (stopped by `stop`)."""
    given = os.environ.get("TEST_DATABASE_URL")
    if given:
        import psycopg

        plain = given.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(plain, autocommit=True) as connection:
            connection.execute("DROP SCHEMA public CASCADE")
            connection.execute("CREATE SCHEMA public")
        return Postgres(given, _server_version(given))
    pg_bin = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key)[-1]
    data = folder / "pg"
    data.mkdir()
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run the cluster as `postgres`, as CI does
        shutil.chown(folder, "postgres")
        shutil.chown(data, "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    subprocess.run(  # noqa: S603 (our own commands)
        [
            *as_postgres,
            f"{pg_bin}/initdb",
            "-D",
            str(data / "data"),
            "-A",
            "trust",
            "-U",
            "postgres",
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(  # noqa: S603 (our own commands)
        [
            *as_postgres,
            f"{pg_bin}/pg_ctl",
            "-D",
            str(data / "data"),
            "-l",
            str(data / "log"),
            "-w",
            "-o",
            f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=200",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    stop = [*as_postgres, f"{pg_bin}/pg_ctl", "-D", str(data / "data"), "-m", "fast", "stop"]
    subprocess.run(  # noqa: S603 (our own commands)
        [
            *as_postgres,
            f"{pg_bin}/createdb",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            "postgres",
            "quire_bench",
        ],
        check=True,
        capture_output=True,
    )
    url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/quire_bench"
    return Postgres(url, _server_version(url), stop, data / "data")


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path))


@dataclass
class Stack:
    """Everything one benchmark run started, and the settings the shop runs with."""

    folder: Path
    database: Postgres
    env: dict[str, str] = field(default_factory=dict)
    web_port: int = 0
    sandbox_port: int = 0
    sandbox_round_trip_ms: float = 0.0
    sandbox: Process | None = None
    web: Process | None = None
    workers: list[Process] = field(default_factory=list)
    others: list[Process] = field(default_factory=list)

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def sandbox_url(self) -> str:
        return f"http://127.0.0.1:{self.sandbox_port}"

    def flask(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`flask --app wsgi ARGS` with the shop's production settings."""
        result = subprocess.run(  # noqa: S603
            [str(BIN / "flask"), "--app", "wsgi", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if check and result.returncode != 0:
            raise BenchSetupError(f"flask {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
        return result

    def start_sandbox(self, latency_ms: int) -> None:
        """(Re)start the sandbox answering after `latency_ms`; its objects are kept."""
        if self.sandbox is not None:
            self.sandbox.stop()
        env = {**os.environ, "SANDBOX_LATENCY_MS": str(latency_ms)}
        self.sandbox = start(
            f"sandbox-{latency_ms}ms",
            [
                PYTHON,
                "-m",
                "stripe_sandbox",
                "run",
                "--port",
                str(self.sandbox_port),
                "--db",
                str(self.folder / "sandbox.sqlite3"),
                "--api-key",
                API_KEY,
            ],
            self.folder,
            env,
        )
        wait_for_port(self.sandbox_port, "the Stripe sandbox", self.sandbox.popen)
        self.sandbox_round_trip_ms = self.stripe_round_trip_ms()

    def stripe_round_trip_ms(self) -> float:
        """The median time of a small API call to the sandbox (what its latency adds up to)."""
        times = []
        request = urllib.request.Request(  # noqa: S310 (our own server)
            self.sandbox_url + "/v1/customers?limit=1",
            headers={"Authorization": f"Bearer {API_KEY}"},
        )
        for _ in range(5):
            started = time.perf_counter()
            with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
                answer.read()
            times.append((time.perf_counter() - started) * 1000)
        return sorted(times)[len(times) // 2]

    def start_web(self, workers: int) -> None:
        command = procfile_line("web")
        if command is None:
            raise BenchSetupError("the Procfile has no web line")
        env = {**self.env, "PORT": str(self.web_port), "WEB_CONCURRENCY": str(workers)}
        self.web = start("web", ["bash", "-c", f"exec {command}"], self.folder, env)
        wait_for_url(self.web_url + "/healthz", "gunicorn", self.web.popen)

    def stop_web(self) -> None:
        if self.web is not None:
            self.web.stop()
            self.web = None

    def start_workers(self, count: int, concurrency: int | None) -> bool:
        """The Procfile's queue workers; False when the shop has none (webhooks applied
        inline, in the web process)."""
        command = procfile_line("worker")
        if command is None:
            return False
        for n in range(count):
            self.workers.append(
                start(
                    f"worker-{n}",
                    [
                        "bash",
                        "-c",
                        f"exec {command}"
                        + (f" --concurrency {concurrency}" if concurrency else ""),
                    ],
                    self.folder,
                    self.env,
                )
            )
        time.sleep(2)
        for worker in self.workers:
            if worker.popen.poll() is not None:
                raise BenchSetupError(f"{worker.name} exited:\n{worker.tail()}")
        return True

    def discard_queued_jobs(self) -> int:
        """Drop the jobs still waiting in the queue (procrastinate's table), so a later
        measurement does not apply an earlier one's events; returns how many."""
        import psycopg

        with psycopg.connect(
            self.database.url.replace("postgresql+psycopg://", "postgresql://")
        ) as conn:
            exists = conn.execute("SELECT to_regclass('procrastinate_jobs')").fetchone()
            if not exists or exists[0] is None:
                return 0
            deleted = conn.execute("DELETE FROM procrastinate_jobs WHERE status = 'todo'").rowcount
            conn.commit()
            return deleted

    def stop_workers(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.workers.clear()

    def cpu_groups(self) -> dict[str, list[int]]:
        """The processes whose CPU time a burst accounts for, by role (each with the
        processes it started: gunicorn's workers, PostgreSQL's backends)."""
        groups = {
            "queue workers": [w.popen.pid for w in self.workers],
            "web": [self.web.popen.pid] if self.web else [],
            "sandbox": [self.sandbox.popen.pid] if self.sandbox else [],
        }
        if self.database.postmaster_pid is not None:
            groups["PostgreSQL"] = [self.database.postmaster_pid]
        return groups

    def stop(self) -> None:
        self.stop_workers()
        for process in (self.web, self.sandbox, *self.others):
            if process is not None:
                process.stop()
        self.database.stop()


def build_stack(queue_mode: str) -> Stack:
    """A folder, PostgreSQL, an SMTP sink, and the production settings (nothing else yet)."""
    folder = Path(tempfile.mkdtemp(prefix="quire-bench-"))
    folder.chmod(0o755)
    database = postgres(folder)
    stack = Stack(folder=folder, database=database, web_port=free_port(), sandbox_port=free_port())
    smtp_port = free_port()
    smtp = start(
        "smtp",
        [
            PYTHON,
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            f"127.0.0.1:{smtp_port}",
            "-c",
            "aiosmtpd.handlers.Sink",
        ],
        folder,
        os.environ,
    )
    stack.others.append(smtp)
    stack.env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "SANDBOX_"))},
        "QUIRE_ENV": "production",
        "SECRET_KEY": secrets.token_hex(32),
        "DATABASE_URL": database.url,
        "STRIPE_SECRET_KEY": API_KEY,
        "STRIPE_API_BASE": stack.sandbox_url,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "SITE_URL": stack.web_url,
        "MAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
        "MAIL_FROM": "Quire <shop@example.com>",
        "QUEUE_MODE": queue_mode,
        "PYTHONPATH": str(ROOT),
        "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
    }
    try:
        wait_for_port(smtp_port, "the SMTP sink", smtp.popen)
    except BenchSetupError:
        stack.stop()
        raise
    return stack


def cpu_seconds(roots: Iterable[int]) -> float:
    """CPU time (user + system, seconds) used so far by these processes and every process
    they started, read from /proc (0 where /proc is not there)."""
    children: dict[int, list[int]] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        pid = int(entry.name)
        children.setdefault(int(fields[1]), []).append(pid)
        times[pid] = (int(fields[11]) + int(fields[12])) / tick
    total, todo = 0.0, list(roots)
    while todo:
        pid = todo.pop()
        total += times.get(pid, 0.0)
        todo.extend(children.get(pid, []))
    return total
