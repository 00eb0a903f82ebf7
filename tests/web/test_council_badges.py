"""The badges that stand for councils in a phone's closed header menu."""

from __future__ import annotations

from gateway.web.ui.pages import council_badges


def test_a_council_alone_is_its_initial():
    assert council_badges(["Вишнівська сільська територіальна громада"]) == ["В"]


def test_councils_of_one_initial_take_as_many_letters_as_tell_them_apart():
    names = ["Олександрівська селищна громада", "Ромашки", "Олешки"]
    assert council_badges(names) == ["ОС", "Р", "ОЛ"]
    assert council_badges(["Keszthely", "Kherson", "Kyiv"]) == ["KE", "KH", "KY"]


def test_quotes_and_dashes_are_no_initials():
    assert council_badges(["«Нова» громада", "Нова Каховка"]) == ["НГ", "НК"]


def test_councils_alike_to_three_letters_are_numbered():
    badges = council_badges(["Вишневе", "Вишгород", "Вишневе"])
    assert badges == ["ВИШ1", "ВИШ2", "ВИШ3"]
    assert len(set(badges)) == 3
