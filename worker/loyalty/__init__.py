"""The loyalty programme: the points ledger, tiers, and the events they make for triggers."""
