"""Workers woken when an object's running job ends and its next job waits (PostgreSQL only)

Revision ID: e3b8d1f4a7c9
Revises: c6e2a9d4f7b1
Create Date: 2026-11-29 19:20:00.000000

procrastinate wakes its workers when a job is inserted; a job queued behind a running job
of the same Stripe object (the same lock) waited for the next poll. The trigger and index
are `shop.queue.WAKE_NEXT_IN_LINE`. SQLite has no queue: nothing changes there.
"""
from alembic import op

from shop.queue import WAKE_NEXT_IN_LINE

# revision identifiers, used by Alembic.
revision = 'e3b8d1f4a7c9'
down_revision = 'c6e2a9d4f7b1'
branch_labels = None
depends_on = None


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    # On the driver's own cursor, with no parameters: the SQL holds plpgsql.
    with bind.connection.dbapi_connection.cursor() as cursor:
        cursor.execute(WAKE_NEXT_IN_LINE)


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    bind.exec_driver_sql(
        "DROP TRIGGER IF EXISTS quire_jobs_wake_next_in_line ON procrastinate_jobs"
    )
    bind.exec_driver_sql("DROP FUNCTION IF EXISTS quire_wake_next_in_line()")
    bind.exec_driver_sql("DROP INDEX IF EXISTS quire_jobs_waiting_by_lock")
