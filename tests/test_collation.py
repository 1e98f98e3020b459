"""French collation: accents and case break ties, they never move a name down the list."""

from app.collation import french_key, french_sorted


def test_elodie_sorts_between_dominique_and_fabien():
    names = ["Fabien", "Élodie", "Dominique"]
    assert french_sorted(names) == ["Dominique", "Élodie", "Fabien"]


def test_territories_sort_as_a_french_reader_expects():
    names = ["CPTS Nord-Vendée", "CPTS Île de Ré", "CPTS Côte de Lumière"]
    assert french_sorted(names) == ["CPTS Côte de Lumière", "CPTS Île de Ré", "CPTS Nord-Vendée"]


def test_doctors_sort_by_the_key_given():
    people = [("Dr Yann Thomas", 1), ("Dr Élodie Laurent", 2)]
    assert french_sorted(people, key=lambda p: p[0]) == [
        ("Dr Élodie Laurent", 2),
        ("Dr Yann Thomas", 1),
    ]


def test_accents_and_case_only_break_ties():
    assert french_key("cote") < french_key("côte") < french_key("coter")
    assert french_key("ile") < french_key("Île") < french_key("ilot")
    assert french_key(None) == french_key("")
