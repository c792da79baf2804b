"""Starting a purchase: a pending order first, then a Stripe-hosted Checkout Session.

- `cart`: the shopper's basket (signed-in rows or the signed-out session), its rules,
  and the one pending order a basket checks out as.
- `orders`: the committed pending order, priced by the catalogue (the shopper sends
  only keys, quantities or an interval), owned ebooks, and the refusals shown to shoppers.
- `memberships`: one membership at a time: a new sign-up replaces an unpaid one, and a
  member switches plan or interval (prorated) instead of stacking a second membership.
- `stock`: copies of stock-limited printed books: allotted, sold, held by open
  checkouts (guarded atomic holds), released or consumed once.
- `prices`: the active Stripe Price id for each lookup key, cached per app and checked
  against the catalogue amount.
- `customers`: one Stripe customer per user.
- `sessions`: the Checkout Session's parameters; opening, resuming, confirming and
  cancelling one; checking out the basket.

The order is committed before Stripe is called, so a Stripe outage never loses what the
shopper chose.
"""
