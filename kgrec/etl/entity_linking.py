"""Entity linking: match a catalogue's products to the entities of an existing knowledge graph by
normalised title and year.

The knowledge graph side is a list of ``Reference`` records (an entity with the title and year of
the item it was linked to, e.g. MovieLens-100k's ``.item`` joined with its ``.link``); the catalogue
side is a list of ``Titled`` products. A product links to an entity when their years are equal and
their titles agree after normalisation:

* case, accents (``Cité`` = ``Cite``) and punctuation are ignored, ``&`` reads as ``and``, letters
  and digits are apart (``Alien³`` = ``Alien 3``);
* a trailing article moves to the front: ``Usual Suspects, The`` = ``The Usual Suspects`` (also
  ``A``, ``An`` and the common French, Italian, Spanish and German articles: ``Postino, Il``);
* a year written at the end of the title (``Toy Story (1995)``) is the year when none is given;
* parenthesised alternative titles are alternatives, not part of the title:
  ``City of Lost Children, The (Cité des enfants perdus, La)`` is ``The City of Lost Children``
  or ``La Cité des enfants perdus``; ``(a.k.a. X, a.k.a. Y)`` gives ``X`` and ``Y``.

Rules are tried in order and the first one that finds any candidate decides (``RULES``):

1. ``title``: the main titles are equal, same year;
2. ``alternative title``: a main or alternative title of one equals one of the other, or equals it
   without its article (``Usual Suspects`` = ``Usual Suspects, The``; but two different articles,
   ``Boys, The`` and ``Boys, Les``, are two films), same year;
3. ``title part``: the first or last piece of a compound title of one (``Star Wars: Episode IV - A
   New Hope``: ``Star Wars``, ``A New Hope``) or the title after an author's possessive
   (``Stephen King's The Langoliers``) is a whole title of the other, same year; pieces are never
   compared with pieces (``X: The Movie`` and ``Y: The Movie`` are two films);
4. ``year off by one``: the main titles are equal and the years one apart (release date vs
   production year: ``Howling, The`` 1980 and 1981), unless ``year_tolerance=0``.

A product whose deciding rule finds two or more *different entities* is ambiguous: it is not
linked, and the report keeps its candidates (the ingest writes them to the quarantine file). One
that no rule matches is unmatched. Products without a title or a year are unmatched.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

RULES = ("title", "alternative title", "title part", "year off by one")

# articles that catalogues move to the end of a title ("Postino, Il"); compared case-insensitively
ARTICLES = (
    "the", "a", "an", "la", "le", "les", "l'", "il", "el", "los", "las", "lo", "gli", "das", "der", "die", "det", "den",
)
_TRAILING_ARTICLE = re.compile(
    r"^(?P<body>.*\S)\s*,\s*(?P<article>" + "|".join(re.escape(a) for a in ARTICLES) + r")$", re.IGNORECASE
)
_LEADING_ENGLISH_ARTICLE = re.compile(r"^(?:the|a|an)\s+(?=\S)", re.IGNORECASE)
_TRAILING_GROUP = re.compile(r"^(?P<rest>.*?)\s*\((?P<inner>[^()]*)\)\s*$")
_YEAR = re.compile(r"^\d{4}$")
_AKA = re.compile(r"(?:^|,)\s*a\.k\.a\.?\s+", re.IGNORECASE)
_SEPARATORS = re.compile(r":\s+|\s+-\s+")
_POSSESSIVE = re.compile(r"^[A-Z][\w.]+ [A-Z][\w.]+'s\s+(?P<rest>\S.*)$")


@dataclasses.dataclass(frozen=True)
class Titled:
    """A catalogue product to link: its id, title (a year at the end is read if ``year`` is None)."""

    id: str
    title: str | None
    year: int | None = None
    line: int | None = None  # where it came from, for the quarantine


@dataclasses.dataclass(frozen=True)
class Reference:
    """An entity of the existing knowledge graph with the title and year it is known by."""

    entity: str
    title: str | None
    year: int | None = None
    key: str | None = None  # the reference item it came from (e.g. an ML-100k item id)


@dataclasses.dataclass(frozen=True)
class Link:
    product: str
    entity: str
    rule: str  # one of RULES


@dataclasses.dataclass(frozen=True)
class Ambiguous:
    product: Titled
    rule: str
    candidates: tuple[Reference, ...]  # two or more, with different entities


@dataclasses.dataclass(frozen=True)
class TitleForms:
    """The normalised forms of one title (``title_forms``)."""

    main: str  # the main title, its article in front: "the usual suspects"
    alternatives: frozenset[str]  # parenthesised alternative titles, and the title exactly as written
    bare: frozenset[str]  # the main title without its article: "usual suspects" (empty when it has none)
    parts: frozenset[str]  # pieces of a compound main title: "star wars", "a new hope"

    @property
    def whole(self) -> frozenset[str]:
        return self.alternatives | {self.main}


@dataclasses.dataclass
class EntityLinkReport:
    """What linking did: every product is in exactly one of ``links``, ``ambiguous``, ``unmatched``."""

    products: int = 0
    references: int = 0  # reference records with an entity, a title and a year
    reference: str | None = None  # where the references came from, for the summary
    links: list[Link] = dataclasses.field(default_factory=list)
    ambiguous: list[Ambiguous] = dataclasses.field(default_factory=list)
    unmatched: list[Titled] = dataclasses.field(default_factory=list)
    # among a subset the caller cares about (e.g. products with interactions): (linked, total)
    focus: tuple[str, int, int] | None = None

    @property
    def matched(self) -> int:
        return len(self.links)

    @property
    def by_rule(self) -> dict[str, int]:
        counts = Counter(link.rule for link in self.links)
        return {rule: counts[rule] for rule in RULES if counts[rule]}

    @property
    def shared_entities(self) -> int:
        """Entities linked to more than one product (e.g. a catalogue listing one film twice)."""
        return sum(1 for n in Counter(link.entity for link in self.links).values() if n > 1)

    @property
    def adds_up(self) -> bool:
        return self.products == len(self.links) + len(self.ambiguous) + len(self.unmatched)

    def set_focus(self, name: str, product_ids: Iterable[str]) -> None:
        """Count the linked products among ``product_ids`` (shown as ``linked N of M <name>``)."""
        ids = set(product_ids)
        linked = sum(1 for link in self.links if link.product in ids)
        self.focus = (name, linked, len(ids))

    def summary_lines(self) -> list[str]:
        rules = ", ".join(f"{rule} {n:,}" for rule, n in self.by_rule.items()) or "none"
        to = f" to {self.reference}" if self.reference else ""
        lines = [(f"entity linking{to}: {self.matched:,} of {self.products:,} products linked ({rules}); "
                  f"{len(self.ambiguous):,} ambiguous (not linked, quarantined); {len(self.unmatched):,} unmatched")]
        if self.focus:
            name, linked, total = self.focus
            share = f" ({linked / total:.1%})" if total else ""
            lines.append(f"  linked {linked:,} of {total:,} {name}{share}")
        if self.shared_entities:
            lines.append(f"  {self.shared_entities:,} entities are linked to more than one product")
        return lines

    def to_dict(self) -> dict:
        return {
            "products": self.products,
            "references": self.references,
            "reference": self.reference,
            "matched": self.matched,
            "matched_by_rule": self.by_rule,
            "ambiguous": [
                {"product": a.product.id, "title": a.product.title, "year": a.product.year, "rule": a.rule,
                 "candidates": [dataclasses.asdict(c) for c in a.candidates]}
                for a in self.ambiguous
            ],
            "unmatched": [p.id for p in self.unmatched],
            "shared_entities": self.shared_entities,
            **(
                {"focus": {"name": self.focus[0], "linked": self.focus[1], "total": self.focus[2]}}
                if self.focus
                else {}
            ),
        }


def normalise(text: str) -> str:
    """Lower case, no accents, no punctuation, single spaces; ``&`` becomes ``and``; letters and
    digits are split (``Alien³`` = ``Alien 3``)."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = text.replace("&", " and ")
    text = re.sub(r"['’`´]", "", text)  # Schindler's = Schindlers; L'Uomo = LUomo on both sides
    text = re.sub(r"[\W_]+", " ", text)
    text = re.sub(r"(?<=[^\W\d])(?=\d)|(?<=\d)(?=[^\W\d])", " ", text)
    return " ".join(text.split())


def _front_article(title: str) -> str:
    """``Usual Suspects, The`` -> ``The Usual Suspects``; ``Uomo delle stelle, L'`` -> ``L'Uomo delle stelle``."""
    m = _TRAILING_ARTICLE.match(title.strip())
    if not m:
        return title.strip()
    article = m.group("article")
    return f"{article}{m.group('body')}" if article.endswith("'") else f"{article} {m.group('body')}"


def _without_article(title: str) -> str | None:
    """The title without a trailing article, or without a leading English one; None if it has none."""
    m = _TRAILING_ARTICLE.match(title.strip())
    if m:
        return m.group("body")
    bare = _LEADING_ENGLISH_ARTICLE.sub("", title.strip())
    return bare if bare != title.strip() else None


def split_title(title: str) -> tuple[str, list[str], int | None]:
    """(main title, parenthesised alternatives, year written at the end or None).

    ``Hard 8 (a.k.a. Sydney, a.k.a. Hard Eight) (1996)`` -> ``("Hard 8", ["Sydney", "Hard Eight"], 1996)``."""
    rest, year = title.strip(), None
    alternatives: list[str] = []
    while m := _TRAILING_GROUP.match(rest):
        inner = m.group("inner").strip()
        if not m.group("rest"):  # the whole remaining title is in parentheses: it is the main title
            break
        if _YEAR.match(inner) and year is None and not alternatives:
            year = int(inner)
        elif inner:
            alternatives[:0] = [a.strip() for a in _AKA.split(inner) if a.strip()]
        rest = m.group("rest")
    return rest.strip(), alternatives, year


def _parts(main: str) -> set[str]:
    """The first and last piece of a compound title (``Star Wars: Episode IV - A New Hope``:
    ``Star Wars``, ``A New Hope``) and a title after an author's possessive (``Stephen King's The
    Langoliers``: ``The Langoliers``)."""
    pieces = [p for p in _SEPARATORS.split(main) if p.strip()]
    found = {pieces[0], pieces[-1]} if len(pieces) > 1 else set()
    if m := _POSSESSIVE.match(main):
        found.add(m.group("rest"))
    return {normalise(_front_article(p)) for p in found} - {""}


def title_forms(title: str) -> TitleForms:
    """Every normalised form of ``title`` that the matching rules compare."""
    main, alternatives, _ = split_title(title)
    main_form = normalise(_front_article(main))
    alts = {normalise(_front_article(a)) for a in alternatives} | {normalise(title)}
    bare = _without_article(main)
    whole = alts | {main_form}
    return TitleForms(
        main=main_form,
        alternatives=frozenset(alts - {"", main_form}),
        bare=frozenset({normalise(bare)} - {""} if bare else ()),
        parts=frozenset(_parts(main) - whole),
    )


def _year_of(title: str | None, year: int | None) -> int | None:
    if year is not None:
        return int(year)
    return split_title(title)[2] if title else None


class _Index:
    """Reference records by (form, year), one table per kind of form."""

    def __init__(self, references: Iterable[Reference]):
        self.tables: dict[str, dict[tuple[str, int], list[Reference]]] = {
            kind: defaultdict(list) for kind in ("main", "whole", "bare", "parts")}
        self.size = 0
        for ref in references:
            year = _year_of(ref.title, ref.year)
            if not ref.entity or not ref.title or year is None:
                continue
            self.size += 1
            forms = title_forms(ref.title)
            self.tables["main"][(forms.main, year)].append(ref)
            for kind in ("whole", "bare", "parts"):
                for form in getattr(forms, kind):
                    self.tables[kind][(form, year)].append(ref)

    def _look(self, kind: str, forms: Iterable[str], years: Iterable[int], found: dict[int, Reference]) -> None:
        table = self.tables[kind]
        for year in years:
            for form in sorted(forms):
                for ref in table.get((form, year), ()):
                    found.setdefault(id(ref), ref)

    def candidates(self, rule: str, forms: TitleForms, year: int) -> list[Reference]:
        found: dict[int, Reference] = {}
        if rule == "title":
            self._look("main", [forms.main], [year], found)
        elif rule == "alternative title":
            self._look("whole", forms.whole, [year], found)  # a form of one is a form of the other
            self._look("bare", forms.whole, [year], found)  # "Usual Suspects" = "Usual Suspects, The"
            self._look("whole", forms.bare, [year], found)  # "Usual Suspects, The" = "Usual Suspects"
        elif rule == "title part":  # a piece of one is a whole title of the other, never piece = piece
            self._look("whole", forms.parts, [year], found)
            self._look("bare", forms.parts, [year], found)
            self._look("parts", forms.whole | forms.bare, [year], found)
        elif rule == "year off by one":  # main titles only: "Boys (1996)" is not "Boys, The (1997)"
            self._look("main", [forms.main], [year - 1, year + 1], found)
        return list(found.values())


def link_by_title(
    products: Sequence[Titled], references: Iterable[Reference], *, year_tolerance: int = 1
) -> EntityLinkReport:
    """Link each product to at most one entity (module docstring: the rules and what is ambiguous)."""
    if year_tolerance not in (0, 1):
        raise ValueError("year_tolerance is 0 (exact years) or 1")
    index = _Index(references)
    rules = RULES if year_tolerance else RULES[:-1]
    report = EntityLinkReport(products=len(products), references=index.size)
    for product in products:
        year = _year_of(product.title, product.year)
        if not product.title or year is None:
            report.unmatched.append(product)
            continue
        forms = title_forms(product.title)
        for rule in rules:
            found = index.candidates(rule, forms, year)
            if not found:
                continue
            entities = {ref.entity for ref in found}
            if len(entities) == 1:
                report.links.append(Link(product.id, found[0].entity, rule))
            else:
                ordered = tuple(sorted(found, key=lambda r: (r.entity, r.key or "")))
                report.ambiguous.append(Ambiguous(product, rule, ordered))
            break
        else:
            report.unmatched.append(product)
    return report
