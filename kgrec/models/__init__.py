"""Recommendation models, their shared interface, training and evaluation.

Layout (one concern per package)::

    base.py       Recommender: the interface every model follows, and the registry
    trainable.py  TrainableRecommender: the hooks a neural model implements for the Trainer
    modality.py   ModalityStatus: whether a model used a modality (KG, sequence, text, image) and why
    general/      popularity, BPR-MF, biased MF, LightGCN
    sequential/   SASRec, BERT4Rec
    content/      text kNN
    knowledge/    CKE
    kgbm4rec/     KGBM4Rec, the fused knowledge-graph multimodal model
    nn/           shared layers and losses
    data/         interactions, knowledge graph and item vectors read from the graph store; splits;
                  negative sampling; RecBole export
    training/     the shared training loop (Trainer), DDP, memory settings, checkpoints
    evaluation/   protocols, metrics, report tables and plots
    workflows/    train/evaluate pipeline, tuning, ablations: they wire the packages above

Import rules (checked by tests/test_import_rules.py):

- model families (general, sequential, content, knowledge, kgbm4rec) import only ``nn``,
  ``data``, ``base``, ``trainable``, ``modality`` and the layers below ``kgrec.models`` (``kgrec.kg``,
  ``kgrec.errors``, ``kgrec.config``); a family never imports another family;
- models never import the training loop: a ``Trainer`` is handed to ``fit`` (RecBole's order:
  build the model, then the trainer);
- nothing inside ``kgrec.models`` imports ``workflows``; only the CLI and the server do;
- the registry (``base.get_model_class``) looks only in the family packages;
- no import cycle anywhere in ``kgrec``, imports inside functions included.
"""
