"""Knowledge-graph-aware baselines: CKE."""
