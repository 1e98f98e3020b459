"""The forgiving commune search: abbreviations, separators, articles, and typos ranked."""

import pytest

from app import communes_ref
from app.commune_names import fuzzy_matches, search_key

# The demo territory's neighbourhood (north-west Vendée), searched "locally first".
VENDEE_COAST = ("85047", "85222", "85226", "85234", "85194", "85113")


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("St-Gilles-Croix-de-Vie", "saint gilles croix de vie"),
        ("ste foy", "sainte foy"),
        ("STES maries de la mer", "saintes maries de mer"),
        ("Les Sables-d'Olonne", "sables d olonne"),
        ("l'île d'yeu", "ile d yeu"),
        ("Saint-Gilles/Croix de Vie", "saint gilles croix de vie"),
        ("  Noirmoutier-en-l’Île ", "noirmoutier en ile"),
        ("La", "la"),
        ("", ""),
    ],
)
def test_search_key_spells_out_abbreviations_and_drops_separators_and_articles(typed, key):
    assert search_key(typed) == key


@pytest.mark.parametrize(
    ("typed", "insee"),
    [
        ("st gilles", "85222"),  # Saint-Gilles-Croix-de-Vie
        ("st hilaire de riez", "85226"),  # Saint-Hilaire-de-Riez
        ("ST-HILAIRE-DE-RIEZ", "85226"),
        ("sables d olonne", "85194"),
        ("ile d yeu", "85113"),
        ("challans", "85047"),
    ],
)
def test_search_finds_abbreviated_names_local_first(typed, insee):
    assert communes_ref.search(typed, among=VENDEE_COAST)[0].insee_code == insee


def test_search_without_local_communes_puts_the_exact_name_first():
    # Saint-Gilles (Gard) is "saint gilles" exactly; the Vendée town only starts so.
    found = communes_ref.search("st gilles")
    assert found[0].name == "Saint-Gilles"
    assert "Saint-Gilles-Croix-de-Vie" in {c.name for c in found}


def test_search_ranks_names_starting_with_the_query_before_names_containing_it():
    found = communes_ref.search("sables")
    starting = [c for c in found if search_key(c.name).startswith("sables")]
    assert found[: len(starting)] == starting
    assert any("sables" in search_key(c.name) for c in found[len(starting) :])


def test_search_stops_at_the_limit_in_shortest_name_order():
    found = communes_ref.search("saint", limit=50)
    assert len(found) == 50
    # "Le Saint" is "saint" once its article is dropped: the exact name comes first.
    assert found[0].name == "Le Saint"
    rest = [len(c.name) for c in found[1:]]
    assert rest == sorted(rest)


def test_suggest_turns_a_typo_into_the_local_commune_with_its_postal_code():
    best = communes_ref.suggest("Chalans", among=VENDEE_COAST)[0]
    assert best.commune.insee_code == "85047"
    assert best.local
    assert best.label == "Challans (85300)"


def test_suggest_finds_a_typo_across_the_country_when_nothing_local_is_close():
    best = communes_ref.suggest("marseile", among=VENDEE_COAST)[0]
    assert best.commune.name == "Marseille"
    assert not best.local


def test_suggest_with_an_abbreviation_and_a_typo():
    best = communes_ref.suggest("st hilair de riez", among=VENDEE_COAST)[0]
    assert best.commune.insee_code == "85226"


@pytest.mark.parametrize("nonsense", ["xqzwvkpt", "zzzz", "qwertyuiop", "123abc", "ab", "?!"])
def test_suggest_offers_nothing_for_nonsense(nonsense):
    assert communes_ref.suggest(nonsense, among=VENDEE_COAST) == []


def test_suggest_stays_close_to_what_was_typed():
    # Every suggestion shares most of its letters with the query: no absurd match.
    for query in ("Chalans", "Roche sur yon", "Nantes", "Bourgogne"):
        for suggestion in communes_ref.suggest(query, among=VENDEE_COAST, limit=10):
            assert suggestion.score >= 72


def test_fuzzy_matches_puts_local_candidates_first_then_the_larger_population():
    keys = ["challans", "chalans bis", "chalais", "chalais"]
    found = fuzzy_matches("chalans", keys, local=[0], weights=[10, 1, 5, 500], limit=4)
    assert [m.index for m in found][:1] == [0]
    assert found[0].local
    # The two "chalais" tie on similarity: the larger population comes first.
    chalais = [m.index for m in found if keys[m.index] == "chalais"]
    assert chalais == [3, 2]


def test_fuzzy_matches_refuses_too_short_queries():
    assert fuzzy_matches("abc", ["abc", "abd"], local=[0, 1]) == []
