"""Matched triggers become delivery rows: due times in local time, quiet hours, the budget,
holdouts, cooldown and `unless`."""
