"""Refunds reserved before Stripe is called: orders.amount_refund_reserved, refund_requests

Revision ID: d3f8a1c6e920
Revises: b7c2d9e4f1a3
Create Date: 2026-11-29 12:20:00.000000

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'd3f8a1c6e920'
down_revision = "b7c2d9e4f1a3"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('amount_refund_reserved', sa.Integer(), nullable=False, server_default='0')
        )
    op.create_table(
        'refund_requests',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('order_id', sa.Integer(), nullable=False),
        sa.Column('nonce', sa.String(length=64), nullable=False),
        sa.Column('amount', sa.Integer(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('stripe_refund_id', sa.String(length=255), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['order_id'], ['orders.id'], name=op.f('fk_refund_requests_order_id_orders')
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_refund_requests')),
        sa.UniqueConstraint('order_id', 'nonce', name='uq_refund_requests_order_nonce'),
    )
    with op.batch_alter_table('refund_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refund_requests_order_id'), ['order_id'], unique=False)


def downgrade():
    with op.batch_alter_table('refund_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_refund_requests_order_id'))
    op.drop_table('refund_requests')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('amount_refund_reserved')
