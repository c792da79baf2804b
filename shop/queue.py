"""The shop's job queue: procrastinate, on the PostgreSQL the shop already has.

Why procrastinate: its jobs are rows in the shop's own database, so a job is deferred in
the same transaction as the row it is about (a webhook's event is never stored without
its job, nor a job left without its event); workers take jobs with `FOR UPDATE SKIP
LOCKED` and are woken by `LISTEN/NOTIFY`; a job's `lock` makes jobs with the same lock
run one at a time, oldest first; failed jobs are retried with exponential backoff; and
workers send heartbeats, so the jobs of a worker that was killed are found and run again
(`requeue_stalled_jobs`). No Redis, no second service to run or pay for.

Two connectors, one set of tasks (`queue`):
- web processes defer through `SessionConnector`, which runs procrastinate's SQL on the
  connection of the current SQLAlchemy session, inside its transaction;
- `flask worker` runs the tasks with procrastinate's own async connector and pool.

With `QUEUE_MODE=inline` (the default on SQLite, so `make run` needs no worker) nothing is
deferred: the web process applies the event itself before answering (`shop.inbox`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Generator, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import procrastinate
import psycopg
import psycopg.rows
from flask import Flask
from procrastinate import exceptions
from procrastinate.schema import SchemaManager
from sqlalchemy.engine import make_url

from shop.extensions import db

log = logging.getLogger(__name__)

#: Webhook events; one queue, so a worker never waits on a job of another kind.
EVENTS_QUEUE = "events"
#: A worker whose last heartbeat is older than this (seconds) is taken for dead, and its
#: running jobs are run again. Heartbeats come every `HEARTBEAT_SECONDS`. The setting
#: `QUEUE_STALLED_AFTER_SECONDS` (10 or more) replaces it.
STALLED_AFTER_SECONDS = 30.0
HEARTBEAT_SECONDS = 5.0
#: How often each worker looks for jobs left by dead workers (seconds).
REQUEUE_EVERY_SECONDS = 60.0
#: procrastinate's index allowing one running job per lock; a worker whose fetch loses
#: the race for a lock to another worker meets it as a UniqueViolation.
LOCK_INDEX = "procrastinate_jobs_lock_idx_v1"
#: How long a worker that lost the database waits before it tries again (seconds).
RECONNECT_SECONDS = 2.0
#: The `application_name` of a queue worker's own connections.
WORKER_CONNECTION_NAME = "quire-worker"
#: How often a worker looks for new jobs when no notification woke it (seconds).
POLL_SECONDS = 1.0


class SessionConnector(procrastinate.SyncPsycopgConnector):
    """procrastinate's SQL, run on the current SQLAlchemy session's connection.

    So `defer` joins the transaction the caller is in, and commits or rolls back with it.
    Used only to defer (the web side); workers use `worker_connector`.
    """

    def get_sync_connector(self) -> procrastinate.SyncPsycopgConnector:
        return self

    def open(self, pool: Any = None) -> None:  # nothing to open: the session's pool is used
        return None

    def close(self) -> None:
        return None

    @staticmethod
    def _connection() -> psycopg.Connection[Any]:
        driver = db.session.connection().connection.driver_connection
        if not isinstance(driver, psycopg.Connection):
            raise RuntimeError("the job queue needs PostgreSQL (QUEUE_MODE=inline on SQLite)")
        return driver

    @contextlib.contextmanager
    def _get_cursor(
        self, connection: psycopg.Connection[Any] | None = None
    ) -> Generator[psycopg.Cursor[psycopg.rows.DictRow]]:
        with (connection or self._connection()).cursor(row_factory=psycopg.rows.dict_row) as cur:
            yield cur

    def execute_query(self, query: Any, **arguments: Any) -> None:
        with self._get_cursor() as cursor, _wrapped():
            cursor.execute(query, self._wrap_json(arguments))


@contextlib.contextmanager
def _wrapped() -> Generator[None]:
    try:
        yield
    except psycopg.Error as error:
        raise exceptions.ConnectorException from error


#: The shop's tasks are registered on this app (`shop.inbox`); web processes defer
#: through it, workers run it with their own connector (`worker_app`).
queue = procrastinate.App(connector=SessionConnector(), import_paths=["shop.inbox"])


def conninfo(database_url: str) -> str:
    """A libpq connection string from the shop's SQLAlchemy URL (`postgresql+psycopg://…`)."""
    url = make_url(database_url)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def worker_app(database_url: str, concurrency: int) -> procrastinate.App:
    """The queue with a connection pool of its own, for `flask worker`."""
    connector = procrastinate.PsycopgConnector(
        conninfo=conninfo(database_url),
        min_size=1,
        max_size=max(2, min(concurrency, 8)),
        # Named in pg_stat_activity, apart from the web processes' connections.
        kwargs={"application_name": WORKER_CONNECTION_NAME},
    )
    return queue.with_connector(connector)


#: procrastinate wakes workers when a job is inserted, not when a lock is let go: a job
#: queued behind a running job of its object would wait for the next poll. This trigger
#: wakes them (the same notification an insert sends) when a job with a lock stops
#: running and the next job of that lock is waiting; the index finds that job, and the
#: jobs ahead of a candidate in procrastinate's own fetch.
WAKE_NEXT_IN_LINE = """
CREATE INDEX IF NOT EXISTS quire_jobs_waiting_by_lock
    ON procrastinate_jobs (lock, priority DESC, id) WHERE status = 'todo';

CREATE OR REPLACE FUNCTION quire_wake_next_in_line() RETURNS trigger
    LANGUAGE plpgsql
AS $$
DECLARE
    next_job procrastinate_jobs;
    payload text;
BEGIN
    IF OLD.status = 'doing' AND OLD.lock IS NOT NULL
            AND (TG_OP = 'DELETE' OR NEW.status <> 'doing') THEN
        SELECT * INTO next_job FROM procrastinate_jobs
            WHERE lock = OLD.lock AND status = 'todo'
            ORDER BY priority DESC, id LIMIT 1;
        IF FOUND THEN
            payload := json_build_object('type', 'job_inserted', 'job_id', next_job.id)::text;
            PERFORM pg_notify('procrastinate_queue_v1#' || next_job.queue_name, payload);
            PERFORM pg_notify('procrastinate_any_queue_v1', payload);
        END IF;
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS quire_jobs_wake_next_in_line ON procrastinate_jobs;
CREATE TRIGGER quire_jobs_wake_next_in_line
    AFTER UPDATE OF status OR DELETE ON procrastinate_jobs
    FOR EACH ROW EXECUTE FUNCTION quire_wake_next_in_line();
"""


def apply_schema(database_url: str) -> None:
    """procrastinate's tables and functions, as this version of it ships them, and the
    shop's trigger on them (the migrations run the same SQL on PostgreSQL)."""
    with psycopg.connect(conninfo(database_url), autocommit=True) as connection:
        connection.execute(SchemaManager.get_schema())
        connection.execute(WAKE_NEXT_IN_LINE)


async def requeue_stalled_jobs(
    app: procrastinate.App, stalled_after: float = STALLED_AFTER_SECONDS
) -> int:
    """Run again the jobs of workers that stopped sending heartbeats `stalled_after`
    seconds ago (killed, or their machine gone); how many. Every worker does this at
    start and every minute (or every `stalled_after`, when shorter); if two do it at
    once, the second finds the job no longer stalled."""
    requeued = 0
    stalled = await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after)
    for job in stalled:
        try:
            await app.job_manager.retry_job(job)
        except exceptions.ConnectorException:
            continue  # another worker requeued it first
        log.warning("queue: job %s (%s) of a dead worker runs again", job.id, job.task_name)
        requeued += 1
    return requeued


async def _requeue_stalled_every(
    app: procrastinate.App, seconds: float, stalled_after: float
) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await requeue_stalled_jobs(app, stalled_after)
        except Exception:  # the database may be away for a while: try again later
            log.warning("queue: could not look for stalled jobs", exc_info=True)


def run_worker(
    flask_app: Flask,
    concurrency: int,
    queues: Iterable[str] = (EVENTS_QUEUE,),
    *,
    wait: bool = True,
) -> None:
    """Run a worker until SIGTERM/SIGINT (or, with `wait=False`, until no job is ready):
    `concurrency` jobs at once, each in a thread with the Flask app's context (the tasks
    are plain synchronous functions)."""
    asyncio.run(work(flask_app, concurrency, queues, wait=wait))


async def work(
    flask_app: Flask,
    concurrency: int,
    queues: Iterable[str] = (EVENTS_QUEUE,),
    *,
    wait: bool = True,
) -> None:
    """`run_worker` on the running event loop; cancelling it stops the worker gracefully."""
    app = worker_app(flask_app.config["SQLALCHEMY_DATABASE_URI"], concurrency)
    stalled_after = float(
        flask_app.config.get("QUEUE_STALLED_AFTER_SECONDS", STALLED_AFTER_SECONDS)
    )
    # Synchronous tasks run in the loop's default executor: one thread per job slot.
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="quire-job")
    )
    async with app.open_async():
        await requeue_stalled_jobs(app, stalled_after)
        watcher = asyncio.create_task(
            _requeue_stalled_every(app, min(REQUEUE_EVERY_SECONDS, stalled_after), stalled_after)
        )
        try:
            while True:
                try:
                    await app.run_worker_async(
                        queues=list(queues),
                        concurrency=concurrency,
                        fetch_job_polling_interval=POLL_SECONDS,
                        update_heartbeat_interval=HEARTBEAT_SECONDS,
                        stalled_worker_timeout=stalled_after,
                        delete_jobs="successful",
                        wait=wait,
                        install_signal_handlers=wait,
                        additional_context={"flask_app": flask_app},
                    )
                    return
                except exceptions.UniqueViolation as lost:
                    if lost.constraint_name != LOCK_INDEX:
                        raise
                    # Two workers reached for the next job of one object at once and
                    # this one lost (procrastinate's fetch then raises): work on.
                    log.warning("queue: another worker took an object's next job first")
                except exceptions.ConnectorException:
                    # The database went away under the worker (a restart, a failover):
                    # its running jobs have ended; wait, then work on.
                    log.warning(
                        "queue: lost the database; trying again in %.0f s",
                        RECONNECT_SECONDS,
                        exc_info=True,
                    )
                    await asyncio.sleep(RECONNECT_SECONDS)
        finally:
            watcher.cancel()


def flask_app_of(context: procrastinate.JobContext) -> Flask:
    """The Flask app a worker runs its tasks in."""
    found: Flask = context.additional_context["flask_app"]
    return found
