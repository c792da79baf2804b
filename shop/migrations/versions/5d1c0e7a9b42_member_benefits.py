"""Member benefits: when a membership fell past due; an order's member discount

Revision ID: 5d1c0e7a9b42
Revises: fb3bb2810ec2
Create Date: 2026-11-29 09:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5d1c0e7a9b42'
down_revision = 'fb3bb2810ec2'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        # Memberships already past due start their grace period at the next sync.
        batch_op.add_column(sa.Column('past_due_since', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('orders', schema=None) as batch_op:
        # Orders made before member discounts had none.
        batch_op.add_column(sa.Column('amount_discount', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('discount_coupon_id', sa.String(length=255), nullable=True))


def downgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('discount_coupon_id')
        batch_op.drop_column('amount_discount')
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_column('past_due_since')
