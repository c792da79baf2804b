"""Mails the shop sends: one row per happening (unique key), sent after commit

Revision ID: e1f0a2b3c4d5
Revises: a7e3c9d41f20
Create Date: 2026-11-29 11:30:00.000000

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'e1f0a2b3c4d5'
down_revision = 'a7e3c9d41f20'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'mails',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=255), nullable=False),
        sa.Column('kind', sa.String(length=50), nullable=False),
        sa.Column('to_address', sa.String(length=254), nullable=False),
        sa.Column('subject', sa.String(length=255), nullable=False),
        sa.Column('text_body', sa.Text(), nullable=False),
        sa.Column('html_body', sa.Text(), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_mails')),
        sa.UniqueConstraint('key', name=op.f('uq_mails_key')),
    )
    with op.batch_alter_table('mails', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mails_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_mails_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_mails_to_address'), ['to_address'], unique=False)


def downgrade():
    with op.batch_alter_table('mails', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mails_to_address'))
        batch_op.drop_index(batch_op.f('ix_mails_status'))
        batch_op.drop_index(batch_op.f('ix_mails_kind'))
    op.drop_table('mails')
