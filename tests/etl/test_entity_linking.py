"""Entity linking by normalised title and year: each matching rule, ambiguity, unmatched products
and the report's counts (pure functions, no database)."""

from __future__ import annotations

import json

import pytest

from kgrec.etl.entity_linking import (
    RULES,
    Reference,
    Titled,
    link_by_title,
    normalise,
    split_title,
    title_forms,
)


def _one(title, year, references, **kw):
    """Link one product; returns (entity or None, rule or None, report)."""
    report = link_by_title([Titled("p", title, year)], references, **kw)
    assert report.adds_up
    if report.links:
        return report.links[0].entity, report.links[0].rule, report
    return None, None, report


def test_normalise_ignores_case_accents_punctuation_and_reads_ampersand():
    assert normalise("AMÉLIE!") == normalise("Amelie") == "amelie"
    assert normalise("Schindler's List") == normalise("Schindlers List")
    assert normalise("Crouching Tiger, Hidden Dragon") == "crouching tiger hidden dragon"
    assert normalise("Mr. & Mrs. Smith") == normalise("Mr and Mrs Smith")
    assert normalise("Alien³") == normalise("Alien 3") == "alien 3"
    assert normalise("  Two   spaces ") == "two spaces"


@pytest.mark.parametrize("catalogue, reference", [
    ("Usual Suspects, The", "The Usual Suspects"),
    ("Walk in the Clouds, A", "A Walk in the Clouds"),
    ("Ideal Husband, An", "An Ideal Husband"),
    ("Postino, Il", "Il Postino"),
    ("Star Maker, The (Uomo delle stelle, L')", "Star Maker, The"),
    ("amélie", "Amelie"),
    ("GoodFellas", "Goodfellas"),
])
def test_same_main_title_links_by_the_title_rule(catalogue, reference):
    entity, rule, _ = _one(catalogue, 1995, [Reference("m.x", reference, 1995)])
    assert (entity, rule) == ("m.x", "title")


def test_trailing_article_moves_to_the_front():
    assert title_forms("Usual Suspects, The").main == "the usual suspects"
    assert title_forms("Uomo delle stelle, L'").main == "luomo delle stelle" == title_forms("L'Uomo delle stelle").main
    assert title_forms("Postino, Il").main == "il postino"
    assert title_forms("Go, Dog").main == "go dog"  # not an article: left alone


def test_parenthesised_alternative_titles_and_the_year_are_split_off():
    assert split_title("City of Lost Children, The (Cité des enfants perdus, La) (1995)") == (
        "City of Lost Children, The", ["Cité des enfants perdus, La"], 1995)
    assert split_title("Hard 8 (a.k.a. Sydney, a.k.a. Hard Eight) (1996)") == ("Hard 8", ["Sydney", "Hard Eight"], 1996)
    assert split_title("Toy Story") == ("Toy Story", [], None)
    assert split_title("(Untitled)") == ("(Untitled)", [], None)
    forms = title_forms("City of Lost Children, The (Cité des enfants perdus, La)")
    assert forms.main == "the city of lost children"
    assert "la cite des enfants perdus" in forms.alternatives


def test_alternative_title_on_either_side_links():
    # the catalogue's main title equals the reference's: the alternative does not get in the way
    city = [Reference("m.city", "City of Lost Children, The", 1995)]
    assert _one("City of Lost Children, The (Cité des enfants perdus, La)", 1995, city)[:2] == ("m.city", "title")
    # the reference knows the film by its original title only
    original = [Reference("m.city", "Cité des enfants perdus, La", 1995)]
    assert _one("City of Lost Children, The (Cité des enfants perdus, La)", 1995, original)[:2] == (
        "m.city", "alternative title",
    )
    # and the other way round
    english = [Reference("m.boot", "Boot, Das", 1981)]
    assert _one("Boat, The (Das Boot)", 1981, english)[:2] == ("m.boot", "alternative title")
    aka = [Reference("m.hard8", "Hard Eight", 1996)]
    assert _one("Hard 8 (a.k.a. Sydney, a.k.a. Hard Eight)", 1996, aka)[:2] == ("m.hard8", "alternative title")


def test_title_without_its_article_links_but_two_different_articles_do_not():
    assert _one("Lord of the Rings, The", 1978, [Reference("m.lotr", "Lord of the Rings", 1978)])[:2] == (
        "m.lotr", "alternative title",
    )
    assert _one("Lord of the Rings", 1978, [Reference("m.lotr", "Lord of the Rings, The", 1978)])[:2] == (
        "m.lotr", "alternative title",
    )
    entity, _, report = _one("Boys, The", 1997, [Reference("m.lesboys", "Boys, Les", 1997)])
    assert entity is None and len(report.unmatched) == 1


def test_a_piece_of_a_compound_title_links_to_a_whole_title_never_to_a_piece():
    refs = [
        Reference("m.sw", "Star Wars", 1977), Reference("m.esb", "Empire Strikes Back, The", 1980),
        Reference("m.lang", "Stephen King's The Langoliers", 1995),
        Reference("m.spice", "Spice World: The Movie", 1997),
    ]
    assert _one("Star Wars: Episode IV - A New Hope", 1977, refs)[:2] == ("m.sw", "title part")
    assert _one("Star Wars: Episode V - The Empire Strikes Back", 1980, refs)[:2] == ("m.esb", "title part")
    assert _one("Langoliers, The", 1995, refs)[:2] == ("m.lang", "title part")
    # "The Movie" is a piece of both titles: pieces are never compared with pieces
    assert _one("Gilligan's Island: The Movie", 1997, refs)[0] is None


def test_year_must_match_and_off_by_one_is_a_last_resort_on_main_titles():
    refs = [Reference("m.howl", "Howling, The", 1981)]
    assert _one("Howling, The", 1980, refs)[:2] == ("m.howl", "year off by one")
    assert _one("Howling, The", 1980, refs, year_tolerance=0)[0] is None
    assert _one("Howling, The", 1979, refs)[0] is None
    # a year apart is only for equal main titles, never for the looser forms
    assert _one("Boys, The", 1997, [Reference("m.boys", "Boys", 1996)])[0] is None
    # an exact year wins over a year apart
    both = refs + [Reference("m.howl80", "Howling, The", 1980)]
    assert _one("Howling, The", 1980, both)[:2] == ("m.howl80", "title")
    with pytest.raises(ValueError):
        link_by_title([], refs, year_tolerance=2)


def test_the_year_is_read_from_the_title_when_not_given():
    refs = [Reference("m.toy", "Toy Story", None), Reference("m.toy2", "Toy Story (1995)", None)]
    assert _one("Toy Story (1995)", None, refs)[:2] == ("m.toy2", "title")


def test_ambiguous_products_are_not_linked_and_keep_their_candidates():
    refs = [Reference("m.amy1", "Chasing Amy", 1997, key="246"), Reference("m.amy2", "Chasing Amy", 1997, key="268"),
            Reference("m.toy", "Toy Story", 1995, key="1"), Reference("m.toy", "Toy Story", 1995, key="1b")]
    report = link_by_title([Titled("amy", "Chasing Amy", 1997, line=7), Titled("toy", "Toy Story", 1995)], refs)
    # two references to the same entity are one candidate: linked
    assert [(x.product, x.entity) for x in report.links] == [("toy", "m.toy")]
    (amb,) = report.ambiguous
    assert amb.product.id == "amy" and amb.product.line == 7 and amb.rule == "title"
    assert [(c.entity, c.key) for c in amb.candidates] == [("m.amy1", "246"), ("m.amy2", "268")]
    as_dict = report.to_dict()
    assert as_dict["ambiguous"][0]["candidates"][1] == {
        "entity": "m.amy2", "title": "Chasing Amy", "year": 1997, "key": "268",
    }


def test_ambiguity_in_an_earlier_rule_is_not_resolved_by_a_later_one():
    refs = [
        Reference("m.a", "Nightwatch", 1997), Reference("m.b", "Nightwatch", 1997),
        Reference("m.c", "Nightwatch", 1998),
    ]
    report = link_by_title([Titled("n", "Nightwatch", 1997)], refs)
    assert not report.links and len(report.ambiguous) == 1 and report.ambiguous[0].rule == "title"


def test_unmatched_products_are_reported():
    refs = [
        Reference("m.toy", "Toy Story", 1995), Reference("", "Orphan", 1995), Reference("m.noyear", "No Year", None),
    ]
    products = [
        Titled("a", "Toy Story", 1995), Titled("b", "Heat", 1995), Titled("c", None, 1995),
        Titled("d", "Toy Story", None), Titled("e", "No Year", 1995), Titled("f", "Orphan", 1995),
    ]
    report = link_by_title(products, refs)
    assert report.references == 1  # references need an entity, a title and a year
    assert [p.id for p in report.unmatched] == ["b", "c", "d", "e", "f"]
    assert report.matched == 1 and report.adds_up


def test_report_counts_rules_focus_and_shared_entities():
    refs = [Reference("m.toy", "Toy Story", 1995), Reference("m.city", "Cité des enfants perdus, La", 1995),
            Reference("m.sw", "Star Wars", 1977), Reference("m.howl", "Howling, The", 1981),
            Reference("m.d1", "Deceiver", 1997), Reference("m.d2", "Deceiver", 1997)]
    products = [Titled("toy", "Toy Story", 1995), Titled("toy-again", "Toy Story (re-release)", 1995),
                Titled("city", "City of Lost Children, The (Cité des enfants perdus, La)", 1995),
                Titled("sw", "Star Wars: Episode IV - A New Hope", 1977), Titled("howl", "Howling, The", 1980),
                Titled("dec", "Deceiver", 1997), Titled("heat", "Heat", 1995)]
    report = link_by_title(products, refs)
    assert report.products == 7 and report.matched == 5 and len(report.ambiguous) == 1 and len(report.unmatched) == 1
    assert report.adds_up
    # "Toy Story (re-release)": the parenthesised part is an alternative, the main title is equal
    assert report.by_rule == {"title": 2, "alternative title": 1, "title part": 1, "year off by one": 1}
    assert list(report.by_rule) == [r for r in RULES if r in report.by_rule]
    assert report.shared_entities == 1  # "toy" and "toy-again" both link to m.toy
    report.set_focus("rated products", ["toy", "heat", "dec", "sw"])
    assert report.focus == ("rated products", 2, 4)
    lines = report.summary_lines()
    assert lines[0].startswith(
        "entity linking: 5 of 7 products linked (title 2, alternative title 1, title part 1, year off by one 1)"
    )
    assert "1 ambiguous" in lines[0] and "1 unmatched" in lines[0]
    assert "linked 2 of 4 rated products (50.0%)" in lines[1]
    as_dict = json.loads(json.dumps(report.to_dict()))
    assert (
        as_dict["matched"] == 5
        and as_dict["unmatched"] == ["heat"]
        and as_dict["focus"] == {"name": "rated products", "linked": 2, "total": 4}
    )
