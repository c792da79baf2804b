"""Webhook endpoints registered by the release, with their signing secrets

Revision ID: f2a9c4e7b1d3
Revises: d3e8a1f5c7b2
Create Date: 2026-11-29 13:30:00.000000

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'f2a9c4e7b1d3'
down_revision = "d3e8a1f5c7b2"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'webhook_endpoints',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('stripe_endpoint_id', sa.String(length=255), nullable=False),
        sa.Column('url', sa.String(length=2000), nullable=False),
        sa.Column('secret', sa.String(length=255), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_endpoints')),
        sa.UniqueConstraint(
            'stripe_endpoint_id', name=op.f('uq_webhook_endpoints_stripe_endpoint_id')
        ),
    )


def downgrade():
    op.drop_table('webhook_endpoints')
