"""Indexes for the admin's lists of orders, members and customers

Revision ID: f4b9c2d7e1a8
Revises: f2a6c8e1d4b9
Create Date: 2026-11-29 13:40:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = 'f4b9c2d7e1a8'
down_revision = "f2a6c8e1d4b9"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index('ix_orders_created_at_id', ['created_at', 'id'], unique=False)
        batch_op.create_index(
            'ix_orders_status_created_at_id', ['status', 'created_at', 'id'], unique=False
        )
        batch_op.create_index(
            'ix_orders_user_id_created_at_id', ['user_id', 'created_at', 'id'], unique=False
        )
        batch_op.create_index(
            batch_op.f('ix_orders_stripe_subscription_id'), ['stripe_subscription_id'], unique=False
        )
    with op.batch_alter_table('order_items', schema=None) as batch_op:
        batch_op.create_index(
            'ix_order_items_item_key_order_id', ['item_key', 'order_id'], unique=False
        )
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subscriptions_status'), ['status'], unique=False)
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_invoices_stripe_customer_id'), ['stripe_customer_id'], unique=False
        )


def downgrade():
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invoices_stripe_customer_id'))
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subscriptions_status'))
    with op.batch_alter_table('order_items', schema=None) as batch_op:
        batch_op.drop_index('ix_order_items_item_key_order_id')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_orders_stripe_subscription_id'))
        batch_op.drop_index('ix_orders_user_id_created_at_id')
        batch_op.drop_index('ix_orders_status_created_at_id')
        batch_op.drop_index('ix_orders_created_at_id')
