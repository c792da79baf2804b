"""Every event delivery kept: failed events too, with attempts, the last error and times

Revision ID: f2a6c8e1d4b9
Revises: e7c4b2a9d1f0
Create Date: 2026-11-29 13:30:00.000000

"""
import json

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'f2a6c8e1d4b9'
down_revision = "e7c4b2a9d1f0"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('processed_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('object_id', sa.String(length=255), nullable=True))
        batch_op.add_column(
            sa.Column('attempts', sa.Integer(), server_default=sa.text('1'), nullable=False)
        )
        batch_op.add_column(sa.Column('last_error', sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column('last_attempt_at', sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column('processed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_processed_events_object_id'), ['object_id'], unique=False)
        batch_op.create_index(
            batch_op.f('ix_processed_events_received_at'), ['received_at'], unique=False
        )
        batch_op.create_index(
            'ix_processed_events_outcome_received_at', ['outcome', 'received_at'], unique=False
        )
    # Rows kept so far were all applied (or ignored) when they were received.
    op.execute(
        "UPDATE processed_events SET processed_at = received_at, last_attempt_at = received_at"
    )
    events = sa.table(
        'processed_events', sa.column('id', sa.String), sa.column('raw_json', sa.Text),
        sa.column('object_id', sa.String),
    )
    connection = op.get_bind()
    for event_id, raw in connection.execute(sa.select(events.c.id, events.c.raw_json)).all():
        try:
            found = json.loads(raw)["data"]["object"].get("id")
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
        if isinstance(found, str):
            connection.execute(
                events.update().where(events.c.id == event_id).values(object_id=found[:255])
            )


def downgrade():
    op.execute("DELETE FROM processed_events WHERE outcome = 'failed'")
    with op.batch_alter_table('processed_events', schema=None) as batch_op:
        batch_op.drop_index('ix_processed_events_outcome_received_at')
        batch_op.drop_index(batch_op.f('ix_processed_events_received_at'))
        batch_op.drop_index(batch_op.f('ix_processed_events_object_id'))
        batch_op.drop_column('processed_at')
        batch_op.drop_column('last_attempt_at')
        batch_op.drop_column('last_error')
        batch_op.drop_column('attempts')
        batch_op.drop_column('object_id')
