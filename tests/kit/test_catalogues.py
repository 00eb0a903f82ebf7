"""Every user-facing text is in the catalogue, and Ukrainian has all of them."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from services.common.config import SUPPORTED_LOCALES
from services.common.i18n import TRANSLATIONS_DIR

REPO = Path(__file__).resolve().parents[2]
KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "lazy_gettext": None,
    "N_": None,
    "_l": None,
}


def source_messages() -> set[str]:
    method_map = [
        ("services/**.py", "python"),
        ("gateway/**.py", "python"),
        ("**/templates/**.html", "jinja2"),
        ("**/templates/**.txt", "jinja2"),
    ]
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(REPO),
        method_map,
        keywords=KEYWORDS,
        directory_filter=lambda d: not any(p in d for p in (".venv", "var", "tests", "bench")),
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def catalogue(locale: str):
    with open(TRANSLATIONS_DIR / locale / "LC_MESSAGES" / "messages.po", "rb") as po:
        return read_po(po, locale=locale)


def test_every_supported_language_has_a_catalogue():
    for locale in SUPPORTED_LOCALES:
        assert (TRANSLATIONS_DIR / locale / "LC_MESSAGES" / "messages.po").exists(), locale


def test_ukrainian_translates_every_text_in_the_source():
    uk = catalogue("uk")
    translated = {m.id if isinstance(m.id, str) else m.id[0] for m in uk if m.id and m.string}
    missing = sorted(source_messages() - translated)
    assert not missing, "run `make extract` and translate:\n" + "\n".join(missing[:30])
