"""General (non-sequential) collaborative-filtering models: popularity, BPR-MF, biased MF, LightGCN."""
