"""Stripe objects and their own rules (products and prices, customers, cards, events,
webhook endpoints). Imports only ``core``."""
