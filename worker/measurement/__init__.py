"""Measurement: what each email earned (attribution), lift from holdouts, and the report."""
