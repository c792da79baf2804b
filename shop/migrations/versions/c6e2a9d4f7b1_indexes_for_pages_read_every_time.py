"""Indexes for the pages that read every time: orders holding copies by expiry (lapsed
checkouts), open invoices newest first (the dashboard's failed renewals)

Revision ID: c6e2a9d4f7b1
Revises: d8b3f1a6c2e4
Create Date: 2026-11-29 15:40:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = 'c6e2a9d4f7b1'
down_revision = 'd8b3f1a6c2e4'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index(
            'ix_orders_stock_state_expires_at', ['stock_state', 'expires_at'], unique=False
        )
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.create_index('ix_invoices_status_id', ['status', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_index('ix_invoices_status_id')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_stock_state_expires_at')
