"""Sending a delivery: eligibility, budget, pauses, preferences, tokens, provider feedback."""
