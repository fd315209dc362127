"""The broker and its actors, the hand-off of committed ids, the relays and the clock."""
