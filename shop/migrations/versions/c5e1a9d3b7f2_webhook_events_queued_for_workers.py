"""Webhook events queued for workers: procrastinate's job tables (PostgreSQL only)

Revision ID: c5e1a9d3b7f2
Revises: 9a4c2e6f1b07
Create Date: 2026-11-29 15:50:00.000000

On PostgreSQL this creates procrastinate's tables, types and functions, exactly as the
installed procrastinate (pinned in requirements.txt) ships them. An upgrade of
procrastinate that changes its schema comes with a migration of its own that runs the
migration SQL procrastinate ships for that version. SQLite has no queue (QUEUE_MODE is
inline there), so nothing changes on SQLite.
"""
from alembic import op
from procrastinate.schema import SchemaManager

# revision identifiers, used by Alembic.
revision = 'c5e1a9d3b7f2'
down_revision = '9a4c2e6f1b07'
branch_labels = None
depends_on = None


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    # On the driver's own cursor, with no parameters: the schema's SQL contains '%'.
    with bind.connection.dbapi_connection.cursor() as cursor:
        cursor.execute(SchemaManager.get_schema())


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for table in ("procrastinate_events", "procrastinate_periodic_defers",
                  "procrastinate_jobs", "procrastinate_workers"):
        bind.exec_driver_sql(f"DROP TABLE IF EXISTS {table} CASCADE")
    functions = bind.exec_driver_sql(
        "SELECT p.oid::regprocedure::text FROM pg_proc p "
        "JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate%%'"
    ).scalars().all()
    for function in functions:
        bind.exec_driver_sql(f"DROP FUNCTION IF EXISTS {function} CASCADE")
    for kind in ("procrastinate_job_to_defer_v1", "procrastinate_job_event_type",
                 "procrastinate_job_status"):
        bind.exec_driver_sql(f"DROP TYPE IF EXISTS {kind} CASCADE")
