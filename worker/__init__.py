"""Ladder's deployable, one package per stage of the data's path (see ARCHITECTURE.md)."""
