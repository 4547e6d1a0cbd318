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


def _jinja_newstyle_gettext(env, template_source: str) -> str:
    """The same template rendered with Jinja's own newstyle gettext (what fieldapp's `_()` must give)."""
    from jinja2 import Environment

    reference = Environment(autoescape=env.autoescape, extensions=["jinja2.ext.i18n"])
    reference.install_gettext_translations(i18n.CurrentTranslations(), newstyle=True)
    return reference.from_string(template_source).render()


@pytest.mark.parametrize("locale", i18n.LOCALES)
def test_template_gettext_gives_what_jinjas_newstyle_gettext_gives(locale):
    from fieldapp import templating

    env = templating.make_environment()
    messages = sorted(used_messages())[:400]
    calls = "".join("{{ _(%r) }}|" % message for message in messages if "%(" not in message)
    calls += "{{ _('%(distance)s %(direction)s of %(place)s', distance='<b>1 km</b>', direction='N&E', place='x') }}"
    calls += "{{ _('Save') }}{{ _('Save') }}"
    calls += ("{% autoescape false %}{{ _('Save') }}{{ _('%(distance)s %(direction)s of %(place)s', distance='<b>', "
              "direction='&', place='x') }}{% endautoescape %}")  # text, not HTML: nothing escaped
    token = i18n._current.set(locale)
    try:
        ours = env.from_string(calls).render()
        assert ours == _jinja_newstyle_gettext(env, calls)
        assert ours == env.from_string(calls).render()  # the kept translations give the same the second time
    finally:
        i18n._current.reset(token)
    assert "&lt;b&gt;1 km&lt;/b&gt;" in ours and "N&amp;E" in ours  # a variable is escaped, as Jinja escapes it
    assert "<b>" in ours  # ... but not where the template does not escape


def test_template_gettext_looks_each_message_up_once_per_language(monkeypatch):
    from fieldapp import templating

    env = templating.make_environment()
    looked_up = []
    real = i18n.translations

    def counting(locale):
        looked_up.append(locale)
        return real(locale)

    monkeypatch.setattr(i18n, "translations", counting)
    template = env.from_string("{{ _('Save') }} {{ _('Contacts') }} {{ _('%(n)s of %(m)s', n=1, m=2) }}")
    for locale in ("fi", "sv", "fi", "sv", "fi"):
        token = i18n._current.set(locale)
        try:
            template.render()
        finally:
            i18n._current.reset(token)
    assert sorted(looked_up) == ["fi"] * 3 + ["sv"] * 3
