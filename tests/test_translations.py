"""Every message the code and templates use is translated in Finnish, Swedish and English."""

import pytest

from fieldapp import i18n
from fieldapp.i18n_catalogs import missing, used_messages


@pytest.mark.parametrize("locale", i18n.LOCALES)
def test_every_message_is_translated(locale):
    gaps = missing(locale)
    assert gaps == [], f"{len(gaps)} messages lack a {locale} translation, e.g. {gaps[:10]}"


def test_extraction_finds_template_and_python_messages():
    used = used_messages()
    assert "Log in" in used  # a template
    assert "The location is outside Finland." in used  # a domain module


def test_gettext_follows_the_request_language():
    token = i18n.set_locale("sv")
    try:
        assert i18n.gettext("Log in") == "Logga in"
    finally:
        i18n._current.reset(token)
    token = i18n.set_locale("fi")
    try:
        assert i18n.gettext("Log in") == "Kirjaudu sisään"
    finally:
        i18n._current.reset(token)


def test_numbers_in_finnish_use_a_no_break_space():
    token = i18n.set_locale("fi")
    try:
        assert i18n.format_number(1234567) == "1\u00a0234\u00a0567"
    finally:
        i18n._current.reset(token)
