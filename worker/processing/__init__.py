"""Applying stored events: customers, addresses, orders and their derived facts."""
