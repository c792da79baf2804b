"""Infrastructure: storage, ids, parameters, time, signing, errors, rendering, search and
Stripe's data tables. The lowest layer: it imports nothing of the other layers
(``stripe_sandbox.settings``, kept at its public path, belongs to it)."""
