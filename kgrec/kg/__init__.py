"""The graph store: one Backend protocol, an embedded LadybugDB backend and a Neo4j backend."""

from kgrec.kg.backend import Backend
from kgrec.kg.open import open_backend

__all__ = ["Backend", "open_backend"]
