"""The processes `make stress` attacks, started as production starts them, stopped at exit.

- PostgreSQL: a throwaway cluster of its own (initdb/pg_ctl as the `postgres` user, as
  `.ci/run` starts one, installed from Debian when missing) on a free port, so a case
  can stop it and start it again.
- The Stripe sandbox (`python -m stripe_sandbox run`), no webhook endpoint registered:
  the stress driver delivers its events itself (`bench.stress.delivery`).
- A delaying proxy in front of the sandbox (`bench.stress.proxy`): every Stripe call the
  shop makes waits a random 0–`max_delay_ms`, so retrieves of one object overlap.
- An SMTP server that accepts and drops mail (production needs `MAIL_URL`).
- The shop under gunicorn (the Procfile's `web:` command, 2 sync workers) and queue
  workers (`flask --app wsgi worker --concurrency 8`), in a production environment.
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
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from bench.servers import stop_group, tail_of
from shop.queue import conninfo

ROOT = Path(__file__).resolve().parent.parent.parent
PYTHON = sys.executable
BIN = Path(PYTHON).parent
API_KEY = "sk_test_stress"
WEBHOOK_SECRET = "whsec_stress_" + secrets.token_hex(8)
#: Workers take a silent worker's jobs after this (the shop's setting, 10 s at least).
STALLED_AFTER_SECONDS = 10


class SetupError(RuntimeError):
    """A process the stress run needs did not start; the message says which and why."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_url(url: str, what: str, process: Process, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.running():
            raise SetupError(f"{what} stopped; its log ends:\n{process.tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 (our own server)
                if answer.status < 500:
                    return
        except urllib.error.HTTPError as error:
            if error.code < 500:
                return
            time.sleep(0.2)
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise SetupError(f"{what} did not answer {url} within {timeout:.0f} s")


@dataclass
class Process:
    """A started process (in its own process group) and the log it writes."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None
    #: Killed by the stress run itself (an exit that is not a failure).
    killed: bool = False
    #: A queue worker's row in `procrastinate_workers` (None until it has registered).
    queue_worker_id: int | None = None

    def start(self) -> Process:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(  # noqa: S603 (our own commands)
                self.argv,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL, as a lost machine or the OOM killer would."""
        if self.running():
            self.killed = True
            os.kill(self.pid, signal.SIGKILL)
            assert self.popen is not None
            self.popen.wait()

    def stop(self, timeout: float = 10) -> None:
        if self.popen is not None:
            stop_group(self.popen, timeout)

    def tail(self, lines: int = 30) -> str:
        return tail_of(self.log, lines)


def children_of(pid: int) -> list[int]:
    """The direct children of `pid` (gunicorn's workers, for its master)."""
    found = []
    for task in glob.glob(f"/proc/{pid}/task/*/children"):
        with contextlib.suppress(OSError):
            found += [int(child) for child in Path(task).read_text().split()]
    return found


# --- PostgreSQL ------------------------------------------------------------------------


def postgres_bin() -> Path:
    """Debian's newest PostgreSQL binaries, installed (as `.ci/run` does) when missing."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[4]))
    if not found:
        if os.geteuid() != 0:
            raise SetupError("PostgreSQL is not installed: apt-get install postgresql (as root)")
        print("Installing PostgreSQL…", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)  # noqa: S607
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "postgresql"],  # noqa: S607
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1])


@dataclass
class Postgres:
    """A throwaway cluster on a free port; `stop()` and `start()` make an outage."""

    folder: Path
    bin: Path = field(default_factory=postgres_bin)
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/quire_stress"

    def _as_postgres(self, *argv: str) -> None:
        command = list(argv)
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)  # noqa: S603

    def create(self) -> Postgres:
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
        self._as_postgres(
            str(self.bin / "initdb"),
            "-D",
            str(self.folder / "data"),
            "-A",
            "trust",
            "-U",
            "postgres",
        )
        self.start()
        self._as_postgres(
            str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
            "quire_stress",
        )  # fmt: skip
        return self

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c max_connections=200"
        )
        self._as_postgres(
            str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-l",
            str(self.folder / "log"), "-w", "-o", options, "start",
        )  # fmt: skip

    def stop(self) -> None:
        self._as_postgres(
            str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "fast", "-w", "stop"
        )

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()


# --- SMTP ------------------------------------------------------------------------------


class SmtpSink:
    """An SMTP server that accepts every mail and keeps none (aiosmtpd)."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        class Drop:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Drop(), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpSink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


# --- the whole stack -------------------------------------------------------------------


@dataclass
class Stack:
    """Every process of one stress run, and how to reach them."""

    folder: Path
    postgres: Postgres
    sandbox: Process
    proxy: Process
    web: Process
    workers: list[Process]
    sandbox_url: str
    shop_url: str
    env: dict[str, str]
    restarts: int = 0
    #: Queue workers that exited without being killed: what each said as it ended.
    exits: list[str] = field(default_factory=list)
    #: Keep the logs folder at exit (a case failed: its logs say why).
    keep_logs: bool = False
    supervising: threading.Event = field(default_factory=threading.Event)

    @property
    def database_url(self) -> str:
        return self.postgres.url

    def gunicorn_workers(self) -> list[int]:
        return children_of(self.web.pid)

    def lock_races(self) -> int:
        """How often a queue worker lost the race for an object's next job and worked on
        (`shop.queue` logs each), in all the workers' logs so far."""
        said = "another worker took an object's next job first"
        return sum(
            log.read_text(errors="replace").count(said) for log in self.folder.glob("worker*.log")
        )

    def queue_worker_ids(self) -> set[int]:
        """The workers registered in the queue now (empty while the database is away)."""
        try:
            with psycopg.connect(conninfo(self.database_url), connect_timeout=3) as connection:
                rows = connection.execute("SELECT id FROM procrastinate_workers").fetchall()
        except psycopg.Error:
            return set()
        return {int(row[0]) for row in rows}

    def start_worker(self, worker: Process, timeout: float = 20) -> Process:
        """Start a queue worker and wait until it has registered, to know its jobs."""
        known = self.queue_worker_ids()
        worker.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and worker.running():
            new = self.queue_worker_ids() - known
            if new:
                worker.queue_worker_id = min(new)
                break
            time.sleep(0.2)
        return worker

    def holding_jobs(self) -> dict[int, int]:
        """Running jobs per queue worker process (index in `workers`)."""
        try:
            with psycopg.connect(conninfo(self.database_url), connect_timeout=3) as connection:
                rows = connection.execute(
                    "SELECT worker_id, count(*) FROM procrastinate_jobs "
                    "WHERE status = 'doing' GROUP BY worker_id"
                ).fetchall()
        except psycopg.Error:
            return {}
        held = {int(row[0]): int(row[1]) for row in rows if row[0] is not None}
        return {
            index: held[worker.queue_worker_id]
            for index, worker in enumerate(self.workers)
            if worker.running() and worker.queue_worker_id in held
        }

    def restart_worker(self, index: int) -> None:
        worker = self.workers[index]
        if not worker.running() and not worker.killed:
            assert worker.popen is not None
            said = [line.strip() for line in worker.tail(60).splitlines() if line.strip()]
            errors = [
                line for line in said if re.match(r"^[\w.]+(Error|Exception|Violation)\b", line)
            ]
            last = (errors or said or [""])[-1][:200]
            # Its whole log is kept beside the others, named for the exit.
            shutil.copy(
                worker.log, worker.log.with_name(f"{worker.name}-exit{len(self.exits) + 1}.log")
            )
            self.exits.append(
                f"{worker.name} exited by itself (status {worker.popen.returncode}): {last}"
            )
        worker.stop()
        self.workers[index] = self.start_worker(
            Process(worker.name, worker.argv, worker.env, worker.log)
        )
        self.restarts += 1

    def supervise(self, every: float = 0.5) -> None:
        """Restart queue workers that exited (killed, or stopped by themselves: noted in
        `exits`), as a platform restarts a crashed dyno; until `supervising` is cleared."""
        self.supervising.set()

        def loop() -> None:
            while self.supervising.is_set():
                for index, worker in enumerate(self.workers):
                    if not worker.running():
                        self.restart_worker(index)
                time.sleep(every)

        threading.Thread(target=loop, daemon=True, name="stress-supervisor").start()


def _flask(*args: str) -> list[str]:
    return [str(BIN / "flask"), "--app", "wsgi", *args]


def _run(argv: list[str], env: Mapping[str, str], what: str) -> None:
    done = subprocess.run(argv, cwd=ROOT, env=dict(env), capture_output=True, text=True)  # noqa: S603
    if done.returncode != 0:
        raise SetupError(f"{what} failed (exit {done.returncode}):\n{done.stdout}{done.stderr}")


def shop_environment(
    database_url: str, api_base: str, shop_url: str, smtp_port: int
) -> dict[str, str]:
    """Production settings (`config.py`): every secret given, mail to an SMTP server."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV")
    return {
        **{name: os.environ[name] for name in keep if name in os.environ},
        "PYTHONUNBUFFERED": "1",
        "QUIRE_ENV": "production",
        "SECRET_KEY": secrets.token_hex(32),
        "DATABASE_URL": database_url,
        "STRIPE_SECRET_KEY": API_KEY,
        "STRIPE_API_BASE": api_base,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "SITE_URL": shop_url,
        "MAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
        "MAIL_FROM": "Quire <shop@quire.invalid>",
        "QUEUE_MODE": "procrastinate",
        "QUEUE_STALLED_AFTER_SECONDS": str(STALLED_AFTER_SECONDS),
    }


@contextlib.contextmanager
def running_stack(
    *, workers: int = 2, concurrency: int = 8, max_delay_ms: int = 300, web_workers: int = 2
) -> Iterator[Stack]:
    """Start everything (printing where), yield the stack, stop everything."""
    folder = Path(tempfile.mkdtemp(prefix="quire-stress-"))
    folder.chmod(0o755)  # the postgres user reaches its cluster inside
    started: list[Process] = []
    keep = True  # until the run ends without a failure
    postgres = Postgres(folder / "pg")
    postgres.folder.mkdir()
    postgres.create()
    try:
        with SmtpSink() as smtp:
            sandbox_port, proxy_port, shop_port = free_port(), free_port(), free_port()
            sandbox_url = f"http://127.0.0.1:{sandbox_port}"
            shop_url = f"http://127.0.0.1:{shop_port}"
            base = {"PATH": os.environ.get("PATH", ""), "PYTHONUNBUFFERED": "1"}
            sandbox = Process(
                "sandbox",
                [PYTHON, "-m", "stripe_sandbox", "run", "--port", str(sandbox_port),
                 "--db", str(folder / "sandbox.sqlite3"), "--api-key", API_KEY],
                base, folder / "sandbox.log",
            ).start()  # fmt: skip
            started.append(sandbox)
            proxy = Process(
                "proxy",
                [PYTHON, "-m", "bench.stress.proxy", "--port", str(proxy_port),
                 "--target", sandbox_url, "--max-delay-ms", str(max_delay_ms)],
                base, folder / "proxy.log",
            ).start()  # fmt: skip
            started.append(proxy)
            wait_for_url(f"{sandbox_url}/dashboard", "the sandbox", sandbox)
            env = shop_environment(
                postgres.url, f"http://127.0.0.1:{proxy_port}", shop_url, smtp.port
            )
            direct = {**env, "STRIPE_API_BASE": sandbox_url}
            _run(_flask("db", "upgrade"), direct, "flask db upgrade")
            _run(_flask("catalog", "sync"), direct, "flask catalog sync")
            web = Process(
                "web",
                [str(BIN / "gunicorn"), "wsgi:app", "--workers", str(web_workers),
                 "--bind", f"127.0.0.1:{shop_port}", "--timeout", "30"],
                env, folder / "web.log",
            ).start()  # fmt: skip
            started.append(web)
            queue_workers = [
                Process(
                    f"worker{n}",
                    _flask("worker", "--concurrency", str(concurrency)),
                    env,
                    folder / f"worker{n}.log",
                )
                for n in range(1, workers + 1)
            ]
            wait_for_url(f"{shop_url}/healthz", "the shop (gunicorn)", web)
            stack = Stack(
                folder=folder,
                postgres=postgres,
                sandbox=sandbox,
                proxy=proxy,
                web=web,
                workers=queue_workers,
                sandbox_url=sandbox_url,
                shop_url=shop_url,
                env=env,
            )
            print(
                f"PostgreSQL on port {postgres.port}, sandbox {sandbox_url} (Stripe calls "
                f"delayed 0–{max_delay_ms} ms), shop {shop_url} (gunicorn, {web_workers} "
                f"workers), {workers} queue workers × {concurrency}; logs in {folder}",
                flush=True,
            )
            for worker in queue_workers:
                started.append(stack.start_worker(worker))
            stack.supervise()
            try:
                yield stack
            finally:
                stack.supervising.clear()
                started = [stack.web, *stack.workers, proxy, sandbox]
                keep = stack.keep_logs
    finally:
        for process in started:
            process.stop()
        postgres.destroy()
        if keep:
            print(f"Logs kept in {folder}", flush=True)
        else:
            shutil.rmtree(folder, ignore_errors=True)
