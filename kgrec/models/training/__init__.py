"""The shared training loop (Trainer), DDP helpers, memory settings and checkpoints tied to a graph snapshot."""
