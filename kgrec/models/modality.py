"""Whether a model used a modality (knowledge graph, sequence, text, image) and why: the status a
model with ablation switches (``Recommender.ablations``) reports in its history and checkpoint,
and that ``kgrec.models.workflows.ablation`` reads to decide which variants need training."""

from __future__ import annotations

import typing


class ModalityStatus(str):
    """Whether a modality is used and why (``on``, ``on (note)``, ``off (reason)``): typed fields
    ``is_on`` and ``note`` over the string form that histories and checkpoints store."""

    is_on: bool
    note: str

    def __new__(cls, is_on: bool, note: str = "") -> typing.Self:
        obj = super().__new__(cls, ("on" if is_on else "off") + (f" ({note})" if note else ""))
        obj.is_on, obj.note = bool(is_on), note
        return obj

    @classmethod
    def on(cls, note: str = "") -> ModalityStatus:
        return cls(True, note)

    @classmethod
    def off(cls, reason: str) -> ModalityStatus:
        return cls(False, reason)

    @classmethod
    def parse(cls, text: str) -> ModalityStatus:
        """From the stored string form (``"on"``, ``"on (...)"``, ``"off (reason)"``)."""
        if isinstance(text, ModalityStatus):
            return text
        word, _, rest = str(text).partition(" ")
        if word not in ("on", "off"):
            raise ValueError(f"not a modality status: {text!r}")
        note = rest[1:-1] if rest.startswith("(") and rest.endswith(")") else rest
        return cls(word == "on", note)

    def switched_off_by(self, switch: str) -> bool:
        """Off because the ablation switch ``switch`` was set."""
        return not self.is_on and self.note == switch

    def __reduce__(self):
        return (ModalityStatus, (self.is_on, self.note))
