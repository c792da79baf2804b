"""What happens across objects: Checkout, payments, billing, subscriptions, test clocks,
the portal actions, the scheduler and webhook delivery. Imports ``resources`` and ``core``."""
