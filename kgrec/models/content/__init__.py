"""Content-based models over the item vectors stored in the graph: text kNN."""
