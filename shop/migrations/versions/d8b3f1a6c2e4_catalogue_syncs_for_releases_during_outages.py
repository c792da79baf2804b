"""Catalogue syncs: which catalogue file release last made Stripe match

Revision ID: d8b3f1a6c2e4
Revises: c5e1a9d3b7f2
Create Date: 2026-11-29 15:35:00.000000

A release during a Stripe outage goes out when the catalogue is unchanged since the last
successful sync; this keeps each synced file's SHA-256.
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'd8b3f1a6c2e4'
down_revision = 'c5e1a9d3b7f2'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'catalogue_syncs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('catalogue_sha256', sa.String(length=64), nullable=False),
        sa.Column('synced_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_catalogue_syncs')),
    )
    with op.batch_alter_table('catalogue_syncs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_catalogue_syncs_synced_at'), ['synced_at'], unique=False)


def downgrade():
    with op.batch_alter_table('catalogue_syncs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_catalogue_syncs_synced_at'))
    op.drop_table('catalogue_syncs')
