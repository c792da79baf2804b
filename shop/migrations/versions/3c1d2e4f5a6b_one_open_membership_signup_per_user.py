"""One open membership sign-up per user; membership orders name their plan

Revision ID: 3c1d2e4f5a6b
Revises: 5d1c0e7a9b3f
Create Date: 2026-11-29 09:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '3c1d2e4f5a6b'
down_revision = '5d1c0e7a9b3f'
branch_labels = None
depends_on = None

OPEN_SIGNUP = sa.text("kind = 'membership' AND status = 'pending'")


def upgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('plan_key', sa.String(length=64), nullable=True))

    # Membership orders name their plan (it was only on their single line).
    op.execute(
        "UPDATE orders SET plan_key = (SELECT MIN(order_items.item_key) FROM order_items "
        "WHERE order_items.order_id = orders.id) WHERE kind = 'membership'"
    )
    # Before the index can exist, a user's older open sign-ups give way to their newest
    # one: they are marked expired (their Checkout Sessions expire at Stripe on their own).
    op.execute(
        "UPDATE orders SET status = 'expired' WHERE kind = 'membership' AND status = 'pending' "
        "AND id < (SELECT MAX(newer.id) FROM orders AS newer WHERE newer.user_id = orders.user_id "
        "AND newer.kind = 'membership' AND newer.status = 'pending')"
    )
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index(
            'uq_orders_one_open_signup_per_user',
            ['user_id'],
            unique=True,
            sqlite_where=OPEN_SIGNUP,
            postgresql_where=OPEN_SIGNUP,
        )


def downgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index(
            'uq_orders_one_open_signup_per_user',
            sqlite_where=OPEN_SIGNUP,
            postgresql_where=OPEN_SIGNUP,
        )
        batch_op.drop_column('plan_key')
