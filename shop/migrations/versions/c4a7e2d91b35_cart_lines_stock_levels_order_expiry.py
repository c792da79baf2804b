"""Cart lines, stock levels, and orders that end (expiry, stock and cart states)

Revision ID: c4a7e2d91b35
Revises: 3c1d2e4f5a6b
Create Date: 2026-11-29 09:20:00.000000

"""
from alembic import op
import sqlalchemy as sa



# revision identifiers, used by Alembic.
revision = 'c4a7e2d91b35'
down_revision = '3c1d2e4f5a6b'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'cart_lines',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('book_key', sa.String(length=64), nullable=False),
        sa.Column('quantity', sa.Integer(), nullable=False),
        sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_cart_lines_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_cart_lines')),
        sa.UniqueConstraint('user_id', 'book_key', name=op.f('uq_cart_lines_user_book')),
    )
    with op.batch_alter_table('cart_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cart_lines_user_id'), ['user_id'], unique=False)

    op.create_table(
        'stock_levels',
        sa.Column('book_key', sa.String(length=64), nullable=False),
        sa.Column('held', sa.Integer(), nullable=False),
        sa.Column('sold', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('book_key', name=op.f('pk_stock_levels')),
    )

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))
        # Orders made before stock levels existed hold nothing in them.
        batch_op.add_column(sa.Column('stock_state', sa.String(length=16), nullable=False, server_default='none'))
        batch_op.add_column(sa.Column('cart_state', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('open_cart_user_id', sa.Integer(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_orders_open_cart_user_id'), ['open_cart_user_id'])
        batch_op.create_foreign_key(batch_op.f('fk_orders_open_cart_user_id_users'), 'users', ['open_cart_user_id'], ['id'])


def downgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_orders_open_cart_user_id_users'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_orders_open_cart_user_id'), type_='unique')
        batch_op.drop_column('open_cart_user_id')
        batch_op.drop_column('cart_state')
        batch_op.drop_column('stock_state')
        batch_op.drop_column('expires_at')

    op.drop_table('stock_levels')
    with op.batch_alter_table('cart_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cart_lines_user_id'))
    op.drop_table('cart_lines')
