"""Infrastructure: storage, ids, parameters, time, signing, errors, rendering, search and
Stripe's data tables. The lowest layer: it imports nothing else of the sandbox."""
