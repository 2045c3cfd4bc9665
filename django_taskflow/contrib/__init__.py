"""Ready-made middleware and helpers that projects may opt into."""
