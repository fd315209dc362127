"""Test helpers: private Redis and PostgreSQL servers, factories."""
