"""Matched triggers become delivery rows: due times in local time, holdouts, rules."""
