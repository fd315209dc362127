"""What comes in: ingest of canonical events, history import, the webhook inbox and spool."""
