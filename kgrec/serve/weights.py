"""Fusion weights: how much each source's part adds to the final score (each part is first scaled
to [0, 1] within the request). The keys are the source names, the same on the command line
(``kgctl recommend/serve --weight co_interaction=0.8``), in ``kgctl serve``'s stored options and in
``/health``."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping


@dataclasses.dataclass(frozen=True)
class FusionWeights:
    model: float = 1.0
    co_interaction: float = 0.5
    shared_attribute: float = 0.15
    knowledge_graph: float = 0.3
    embedding: float = 0.4
    popular: float = 0.1

    def __post_init__(self) -> None:
        for key, value in self.as_dict().items():
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
                raise ValueError(f"fusion weight {key} must be a finite number >= 0, got {value!r}")

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    def as_dict(self) -> dict[str, float]:
        return {f.name: float(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def of(self, source: str) -> float:
        """The weight of one source by its name (KeyError for a name that is not a source)."""
        return self.as_dict()[source]

    @classmethod
    def from_dict(cls, values: Mapping[str, float] | None) -> FusionWeights:
        """From ``{source: weight}`` (missing keys keep their defaults); unknown keys are refused."""
        values = dict(values or {})
        unknown = sorted(set(values) - set(cls.keys()))
        if unknown:
            raise ValueError(f"unknown fusion weight {', '.join(unknown)}: the keys are {', '.join(cls.keys())}")
        return cls(**{k: float(v) for k, v in values.items()})

    @classmethod
    def parse(cls, pairs: Iterable[str]) -> FusionWeights:
        """From ``SOURCE=WEIGHT`` strings, as given on the command line."""
        values: dict[str, float] = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep:
                raise ValueError(f"--weight {pair!r}: expected SOURCE=WEIGHT, e.g. co_interaction=0.5")
            try:
                values[key.strip()] = float(value)
            except ValueError:
                raise ValueError(f"--weight {pair!r}: {value!r} is not a number") from None
        return cls.from_dict(values)
