"""Category lists (age bands, group categories, topics, kinds, ...): data with labels in fi, sv, en."""

from __future__ import annotations

import weakref

# (code, fi, sv, en) per list; seeded once by a migration, then edited as data.
DEFAULTS: dict[str, list[tuple[str, str, str, str]]] = {
    "deployment_kind": [
        ("demonstration", "Mielenosoitus", "Demonstration", "Demonstration"),
        ("public_event", "Yleisötapahtuma", "Publikevenemang", "Public event"),
        ("youth_event", "Nuorisotapahtuma", "Ungdomsevenemang", "Youth event"),
        ("community_visit", "Yhteisövierailu", "Besök i gemenskap", "Community visit"),
        ("popup_station", "Pop-up-poliisipiste", "Pop up-polispunkt", "Pop-up station"),
        ("other", "Muu", "Annat", "Other"),
    ],
    "age_band": [
        ("child", "Alle 15", "Under 15", "Under 15"),
        ("15_17", "15–17", "15–17", "15–17"),
        ("18_29", "18–29", "18–29", "18–29"),
        ("30_49", "30–49", "30–49", "30–49"),
        ("50_64", "50–64", "50–64", "50–64"),
        ("65_plus", "65+", "65+", "65+"),
        ("mixed", "Eri-ikäisiä", "Blandade åldrar", "Mixed ages"),
    ],
    "group_size": [
        ("1", "Yksi henkilö", "En person", "One person"),
        ("2_5", "2–5 henkilöä", "2–5 personer", "2–5 people"),
        ("6_20", "6–20 henkilöä", "6–20 personer", "6–20 people"),
        ("21_plus", "Yli 20 henkilöä", "Över 20 personer", "More than 20 people"),
    ],
    "group_category": [
        ("general_public", "Yleisö", "Allmänheten", "General public"),
        ("youth", "Nuoret", "Unga", "Young people"),
        ("demonstrators", "Mielenosoittajat", "Demonstranter", "Demonstrators"),
        ("counter_demonstrators", "Vastamielenosoittajat", "Motdemonstranter", "Counter-demonstrators"),
        ("religious_community", "Uskonnollinen yhteisö", "Religiöst samfund", "Religious community"),
        ("ethnic_minority", "Etninen vähemmistö", "Etnisk minoritet", "Ethnic minority"),
        ("sexual_gender_minority", "Seksuaali- ja sukupuolivähemmistö", "Sexuell minoritet och könsminoritet", "Sexual and gender minority"),
        ("asylum_seekers", "Turvapaikanhakijat", "Asylsökande", "Asylum seekers"),
        ("supporters_group", "Kannattajaryhmä", "Supportergrupp", "Supporters' group"),
        ("residents", "Asukkaat", "Invånare", "Residents"),
        ("business_staff", "Yritysten henkilökunta", "Företagspersonal", "Business staff"),
        ("other", "Muu ryhmä", "Annan grupp", "Other group"),
    ],
    "language": [
        ("fi", "Suomi", "Finska", "Finnish"),
        ("sv", "Ruotsi", "Svenska", "Swedish"),
        ("en", "Englanti", "Engelska", "English"),
        ("ru", "Venäjä", "Ryska", "Russian"),
        ("ar", "Arabia", "Arabiska", "Arabic"),
        ("so", "Somali", "Somaliska", "Somali"),
        ("et", "Viro", "Estniska", "Estonian"),
        ("uk", "Ukraina", "Ukrainska", "Ukrainian"),
        ("other", "Muu kieli", "Annat språk", "Other language"),
    ],
    "topic": [
        ("safety_worry", "Turvallisuushuoli", "Oro för säkerheten", "Safety worry"),
        ("hate_speech", "Koettu vihapuhe", "Upplevt hatprat", "Experienced hate speech"),
        ("hate_act", "Koettu viharikos tai vihateko", "Upplevt hatbrott eller hatdåd", "Experienced act of hatred"),
        ("rumour", "Huhu", "Rykte", "Rumour"),
        ("licence_matter", "Lupa-asia", "Tillståndsärende", "Licence matter"),
        ("question_police", "Kysymys poliisista", "Fråga om polisen", "Question about the police"),
        ("tip", "Vihje", "Tips", "Tip"),
        ("neighbourhood", "Asuinalueen asia", "Bostadsområdet", "Neighbourhood matter"),
        ("youth_concern", "Huoli nuoresta", "Oro för en ung person", "Concern about a young person"),
        ("feedback_police", "Palaute poliisille", "Respons till polisen", "Feedback to the police"),
        ("other", "Muu aihe", "Annat ämne", "Other topic"),
    ],
    "referral_target": [
        ("ankkuri", "Ankkuri-tiimi", "Ankkuriteamet", "Anchor (Ankkuri) team"),
        ("victim_support", "Rikosuhripäivystys", "Brottsofferjouren", "Victim Support"),
        ("mediation_office", "Sovittelutoimisto", "Medlingsbyrån", "Mediation office"),
        ("youth_services", "Nuorisopalvelut", "Ungdomstjänster", "Youth services"),
        ("social_services", "Sosiaalipalvelut", "Socialtjänster", "Social services"),
        ("ngo", "Järjestö", "Organisation", "NGO"),
        ("exit_programme", "Exit-ohjelma", "Exitprogram", "Exit programme"),
        ("other", "Muu taho", "Annan instans", "Other service"),
    ],
    "tension_kind": [
        ("verbal_confrontation", "Sanallinen yhteenotto", "Verbal konfrontation", "Verbal confrontation"),
        ("hate_speech_symbols", "Vihapuhe tai -symbolit", "Hatprat eller hatsymboler", "Hate speech or symbols"),
        ("provocation", "Provosointi", "Provokation", "Provocation"),
        ("crowd_movement", "Joukon liikehdintä", "Folkmassans rörelse", "Crowd movement"),
        ("rumour_online", "Huhu tai verkosta leviävä", "Rykte eller spridning från nätet", "Rumour or online spillover"),
        ("counter_demo_contact", "Kontakti vastamielenosoitukseen", "Kontakt med motdemonstration", "Counter-demonstration contact"),
        ("hostility_police", "Vihamielisyys poliisia kohtaan", "Fientlighet mot polisen", "Hostility towards the police"),
        ("physical_scuffle", "Tönimistä tai käsirysy", "Knuffar eller handgemäng", "Pushing or scuffle"),
        ("other", "Muu jännite", "Annan spänning", "Other tension"),
    ],
    "severity": [
        ("1", "1 – Rauhallinen", "1 – Lugnt", "1 – Calm"),
        ("2", "2 – Lievä jännite", "2 – Lätt spänning", "2 – Slight tension"),
        ("3", "3 – Selvä jännite", "3 – Tydlig spänning", "3 – Clear tension"),
        ("4", "4 – Kärjistyvä", "4 – Tillspetsad", "4 – Escalating"),
        ("5", "5 – Vakava", "5 – Allvarlig", "5 – Serious"),
        ("6", "6 – Väkivaltainen", "6 – Våldsam", "6 – Violent"),
    ],
    "trend": [
        ("rising", "Kasvava", "Ökande", "Rising"),
        ("stable", "Vakaa", "Stabil", "Stable"),
        ("easing", "Laantuva", "Avtagande", "Easing"),
    ],
    "basis": [
        ("observed", "Havaittu itse", "Egen observation", "Observed"),
        ("reported", "Kerrottu", "Rapporterat", "Reported"),
        ("assessment", "Arvio", "Bedömning", "Assessment"),
    ],
    "intervention_kind": [
        ("dialogue", "Dialogi tai rauhoittaminen", "Dialog eller deeskalering", "Dialogue or de-escalation"),
        ("advice", "Neuvonta", "Rådgivning", "Advice"),
        ("mediation", "Ennalta estävä sovittelu", "Förebyggande medling", "Preventive mediation"),
        ("organiser_negotiation", "Neuvottelu järjestäjien kanssa", "Förhandling med arrangörer", "Negotiation with organisers"),
        ("separating_groups", "Ryhmien erottaminen", "Åtskiljande av grupper", "Separating groups"),
        ("referral", "Ohjaus palveluihin", "Hänvisning till tjänster", "Referral to services"),
        ("other", "Muu toimenpide", "Annan åtgärd", "Other"),
    ],
    "outcome": [
        ("resolved", "Tilanne rauhoittui", "Situationen lugnade sig", "Calmed down"),
        ("partly", "Osittain rauhoittui", "Delvis lugnare", "Partly calmed"),
        ("not_resolved", "Ei vaikutusta", "Ingen effekt", "No effect"),
        ("referred", "Ohjattu eteenpäin", "Hänvisad vidare", "Referred on"),
        ("ongoing", "Jatkuu", "Pågår", "Ongoing"),
    ],
}


def seed_defaults(db) -> None:
    """Insert the default lists (used by the first migration)."""
    rows = [
        {"list": name, "code": code, "label_fi": fi, "label_sv": sv, "label_en": en, "sort": i, "active": 1}
        for name, items in DEFAULTS.items()
        for i, (code, fi, sv, en) in enumerate(items)
    ]
    db["categories"].insert_all(rows, pk=("list", "code"), ignore=True)


def options(db, list_name: str, locale: str) -> list[tuple[str, str]]:
    """Active (code, label) pairs of one list, in order, labelled in the given language."""
    column = f"label_{locale}" if locale in ("fi", "sv", "en") else "label_en"
    return [
        (row["code"], row[column])
        for row in db.query(
            f"SELECT code, {column} FROM categories WHERE list = ? AND active = 1 ORDER BY sort, code",
            [list_name],
        )
    ]


def all_options(db, locale: str) -> dict[str, list[tuple[str, str]]]:
    """Every list's options in one query: what a form (or the offline cache) needs."""
    column = f"label_{locale}" if locale in ("fi", "sv", "en") else "label_en"
    result: dict[str, list[tuple[str, str]]] = {}
    for row in db.query(f"SELECT list, code, {column} AS label FROM categories WHERE active = 1 ORDER BY list, sort, code"):
        result.setdefault(row["list"], []).append((row["code"], row["label"]))
    return result


def codes(db, list_name: str) -> set[str]:
    """Valid (active) codes of a list."""
    return {row[0] for row in db.conn.execute("SELECT code FROM categories WHERE list = ? AND active = 1", [list_name])}


# Database -> (the lists' change count, codes): valid codes stay in memory until a list changes.
_CODES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def all_codes(db) -> dict[str, frozenset[str]]:
    """Valid (active) codes of every list. Read again only after a change to the lists: a trigger counts every
    change in sequences 'categories' (migration m008), and that count is one row to read."""
    version = db.conn.execute("SELECT value FROM sequences WHERE name = 'categories'").fetchone()
    cached = _CODES.get(db)
    if cached is not None and version is not None and cached[0] == version[0]:
        return cached[1]
    found: dict[str, set[str]] = {}
    for list_name, code in db.conn.execute("SELECT list, code FROM categories WHERE active = 1"):
        found.setdefault(list_name, set()).add(code)
    result = {list_name: frozenset(codes) for list_name, codes in found.items()}
    if version is not None:
        _CODES[db] = (version[0], result)
    return result


def label(db, list_name: str, code: str | None, locale: str) -> str:
    """The label of one code, or the code itself when unknown."""
    if code is None:
        return ""
    column = f"label_{locale}" if locale in ("fi", "sv", "en") else "label_en"
    row = db.execute(f"SELECT {column} FROM categories WHERE list = ? AND code = ?", [list_name, code]).fetchone()
    return row[0] if row else code
