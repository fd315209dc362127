"""Prometheus metrics: counters where things happen, gauges read from the database at scrape."""
