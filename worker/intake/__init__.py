"""What comes in: canonical events, ingest, history import, the webhook inbox and spool."""
