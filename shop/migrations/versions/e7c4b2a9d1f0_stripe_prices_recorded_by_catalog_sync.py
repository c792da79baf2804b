"""Stripe prices recorded by catalog sync, so every worker reads the same Price ids

Revision ID: e7c4b2a9d1f0
Revises: f2a9c4e7b1d3
Create Date: 2026-11-29 13:30:00.000000

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'e7c4b2a9d1f0'
down_revision = "f2a9c4e7b1d3"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'stripe_prices',
        sa.Column('lookup_key', sa.String(length=255), nullable=False),
        sa.Column('stripe_price_id', sa.String(length=255), nullable=False),
        sa.Column('amount', sa.Integer(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('interval', sa.String(length=10), nullable=True),
        sa.Column('synced_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('lookup_key', name=op.f('pk_stripe_prices')),
    )


def downgrade():
    op.drop_table('stripe_prices')
