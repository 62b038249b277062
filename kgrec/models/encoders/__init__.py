"""Text and image encoders that write embeddings onto Product nodes, and nearest-neighbour search."""
