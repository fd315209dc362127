"""Sending a due delivery: claims, eligibility, composing, the provider's answer, its later
events (feedback), sending pauses and unsubscribe tokens."""
