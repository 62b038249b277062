"""ETL: read product, user and interaction sources, validate, quarantine bad rows, load the graph."""
