"""Orders record where printed books go, their postage and their dispatch

Revision ID: 5d1c0e7a9b3f
Revises: 5d1c0e7a9b42
Create Date: 2026-11-29 09:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5d1c0e7a9b3f'
down_revision = '5d1c0e7a9b42'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ship_to_country', sa.String(length=2), nullable=True))
        batch_op.add_column(sa.Column('shipping_name', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('shipping_address', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('shipping_amount', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('shipping_method', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('shipped_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('tracking_reference', sa.String(length=255), nullable=True))
        batch_op.create_index(batch_op.f('ix_orders_shipped_at'), ['shipped_at'], unique=False)


def downgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_orders_shipped_at'))
        batch_op.drop_column('tracking_reference')
        batch_op.drop_column('shipped_at')
        batch_op.drop_column('shipping_method')
        batch_op.drop_column('shipping_amount')
        batch_op.drop_column('shipping_address')
        batch_op.drop_column('shipping_name')
        batch_op.drop_column('ship_to_country')
