"""Quire: a Stripe-hosted Checkout shop for books and memberships."""
