"""Versions of mirrored Stripe objects, so a stale retrieve never overwrites a newer one

Revision ID: b8d2f4a6c1e3
Revises: e1f0a2b3c4d5
Create Date: 2026-11-29 11:15:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b8d2f4a6c1e3'
down_revision = "e1f0a2b3c4d5"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'stripe_object_versions',
        sa.Column('stripe_id', sa.String(length=255), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('stripe_id'),
    )


def downgrade():
    op.drop_table('stripe_object_versions')
