"""Money movements (payments and refunds, dated) and what each membership charges

Revision ID: 9a4c2e6f1b07
Revises: f4b9c2d7e1a8
Create Date: 2026-11-29 13:40:00.000000

The ledger is backfilled as well as Quire's records allow: an order's payment at its
`paid_at` (else `created_at`), keyed by its Checkout Session like new ones; a renewal
invoice's payment at its `created_at`; an order's refunds so far as one row at the
order's `updated_at` (the ledger replaces it with one row per refund, at Stripe's
dates, when the charge is next read). A membership's amount, currency and start come
from its sign-up order (the catalogue price, before any promotion code) and its end
from `canceled_at`; `orders reconcile` then reads them from Stripe.
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '9a4c2e6f1b07'
down_revision = "f4b9c2d7e1a8"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'money_movements',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('stripe_id', sa.String(length=255), nullable=False),
        sa.Column('order_id', sa.Integer(), nullable=True),
        sa.Column('stripe_invoice_id', sa.String(length=255), nullable=True),
        sa.Column('amount', sa.Integer(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_money_movements')),
        sa.UniqueConstraint('stripe_id', name=op.f('uq_money_movements_stripe_id')),
    )
    with op.batch_alter_table('money_movements', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_money_movements_occurred_at'), ['occurred_at'], unique=False
        )
        batch_op.create_index(batch_op.f('ix_money_movements_order_id'), ['order_id'], unique=False)
        batch_op.create_index(
            batch_op.f('ix_money_movements_stripe_invoice_id'), ['stripe_invoice_id'], unique=False
        )
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('amount', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('currency', sa.String(length=3), nullable=True))
        batch_op.add_column(sa.Column('started_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True))

    op.execute(
        "INSERT INTO money_movements (kind, stripe_id, order_id, amount, currency, occurred_at) "
        "SELECT 'payment', checkout_session_id, id, amount_paid, currency, "
        "COALESCE(paid_at, created_at) FROM orders "
        "WHERE amount_paid > 0 AND checkout_session_id IS NOT NULL"
    )
    op.execute(
        "INSERT INTO money_movements (kind, stripe_id, order_id, amount, currency, occurred_at) "
        "SELECT 'refund', 'backfill-refunds-order-' || CAST(id AS VARCHAR(20)), id, "
        "amount_refunded, currency, updated_at FROM orders WHERE amount_refunded > 0"
    )
    op.execute(
        "INSERT INTO money_movements "
        "(kind, stripe_id, stripe_invoice_id, amount, currency, occurred_at) "
        "SELECT 'payment', stripe_invoice_id, stripe_invoice_id, amount_paid, currency, "
        "COALESCE(created_at, updated_at) FROM invoices "
        "WHERE status = 'paid' AND amount_paid > 0 "
        "AND (billing_reason IS NULL OR billing_reason <> 'subscription_create')"
    )
    signup = (
        "FROM orders o WHERE o.stripe_subscription_id = subscriptions.stripe_subscription_id "
        "AND o.kind = 'membership'"
    )
    op.execute(
        "UPDATE subscriptions SET "
        f"started_at = (SELECT MIN(COALESCE(o.paid_at, o.created_at)) {signup}), "
        f"amount = (SELECT MAX(o.amount_total - o.amount_discount) {signup}), "
        f"currency = (SELECT MAX(o.currency) {signup})"
    )
    op.execute(
        "UPDATE subscriptions SET ended_at = canceled_at "
        "WHERE status IN ('canceled', 'incomplete_expired')"
    )


def downgrade():
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_column('ended_at')
        batch_op.drop_column('started_at')
        batch_op.drop_column('currency')
        batch_op.drop_column('amount')
    with op.batch_alter_table('money_movements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_money_movements_stripe_invoice_id'))
        batch_op.drop_index(batch_op.f('ix_money_movements_order_id'))
        batch_op.drop_index(batch_op.f('ix_money_movements_occurred_at'))
    op.drop_table('money_movements')
