"""`make stress`: the webhook queue attacked on the processes production runs (`python -m bench.stress`)."""
