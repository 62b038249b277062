"""Training data read from the graph store: interactions, knowledge graph, item vectors, splits,
negative sampling, RecBole export."""
