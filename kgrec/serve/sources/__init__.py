"""Candidate sources: one small class per source, one file each, behind ``base.CandidateSource``.

``CANDIDATE_SOURCES`` lists them in the order their parts are fused and reported; the trained
model's part (``model.ModelScores``) scores the candidates they propose. Adding a source: a file
here with a ``CandidateSource`` subclass, its class in ``CANDIDATE_SOURCES`` and its weight in
``kgrec.serve.weights.FusionWeights`` (a test checks that every source has one).
"""

from __future__ import annotations

from kgrec.serve.sources.base import Candidate, Candidates, CandidateSource, IndexPart, Limits, Source, UserContext
from kgrec.serve.sources.co_interaction import CoInteraction
from kgrec.serve.sources.embedding import Embedding
from kgrec.serve.sources.knowledge_graph import KnowledgeGraph
from kgrec.serve.sources.model import ModelScores
from kgrec.serve.sources.popular import Popular
from kgrec.serve.sources.shared_attribute import SharedAttribute

CANDIDATE_SOURCES: tuple[type[CandidateSource], ...] = (
    CoInteraction,
    SharedAttribute,
    KnowledgeGraph,
    Embedding,
    Popular,
)
SOURCE_NAMES: tuple[str, ...] = (ModelScores.name, *(s.name for s in CANDIDATE_SOURCES))

__all__ = [
    "CANDIDATE_SOURCES", "SOURCE_NAMES", "Candidate", "Candidates", "CandidateSource", "IndexPart", "Limits",
    "ModelScores", "Source", "UserContext",
]
