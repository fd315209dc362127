"""Ladder's deployable: settings, broker, actors, the web process, the clock and the CLI."""
