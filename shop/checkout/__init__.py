"""Starting a purchase: a pending order first, then a Stripe-hosted Checkout Session.

- `orders`: the committed pending order, priced by the catalogue (the shopper sends
  only a key, a quantity or an interval), and the refusals shown to shoppers.
- `memberships`: one membership at a time: a new sign-up replaces an unpaid one, and a
  member switches plan or interval (prorated) instead of stacking a second membership.
- `stock`: copies of a stock-limited printed book still for sale, and how long a
  pending order holds them.
- `prices`: the active Stripe Price id for each lookup key, cached per app and checked
  against the catalogue amount.
- `customers`: one Stripe customer per user.
- `sessions`: the Checkout Session's parameters; opening, resuming and confirming one.

The order is committed before Stripe is called, so a Stripe outage never loses what the
shopper chose.
"""
