"""Who the customers are: segments, date events, Ladder's own events, recommendations."""
