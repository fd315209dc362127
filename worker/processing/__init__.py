"""Applying stored events: customers, addresses, orders, consent and preferences, and facts."""
