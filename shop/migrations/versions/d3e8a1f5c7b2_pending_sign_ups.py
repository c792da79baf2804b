"""Pending sign-ups: the sign-up link carries a random token, the password hash stays here

Revision ID: d3e8a1f5c7b2
Revises: d3f8a1c6e920
Create Date: 2026-11-29 12:20:00.000000

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'd3e8a1f5c7b2'
down_revision = "d3f8a1c6e920"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'pending_sign_ups',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token_digest', sa.String(length=64), nullable=False),
        sa.Column('email', sa.String(length=254), nullable=False),
        sa.Column('password_hash', sa.String(length=255), nullable=False),
        sa.Column('next_path', sa.String(length=2000), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_pending_sign_ups')),
        sa.UniqueConstraint('token_digest', name=op.f('uq_pending_sign_ups_token_digest')),
    )
    with op.batch_alter_table('pending_sign_ups', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_pending_sign_ups_created_at'), ['created_at'], unique=False
        )


def downgrade():
    with op.batch_alter_table('pending_sign_ups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pending_sign_ups_created_at'))
    op.drop_table('pending_sign_ups')
