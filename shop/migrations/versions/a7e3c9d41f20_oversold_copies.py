"""Copies a paid order could not be given: its line's copies_short

Revision ID: a7e3c9d41f20
Revises: c4a7e2d91b35
Create Date: 2026-11-29 10:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a7e3c9d41f20'
down_revision = 'c4a7e2d91b35'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('order_items', schema=None) as batch_op:
        # Lines paid before this were never short.
        batch_op.add_column(sa.Column('copies_short', sa.Integer(), nullable=False, server_default='0'))


def downgrade():
    with op.batch_alter_table('order_items', schema=None) as batch_op:
        batch_op.drop_column('copies_short')
