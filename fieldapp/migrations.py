"""Schema migrations: named functions, each in its own transaction, applied in the order of their numbers.

Never edit one that has shipped. A migration is frozen: it uses SQL and the data written here, never the
current domain code (which changes; an old migration must not). tests/test_migrations.py keeps the numbers in
registration order and this module free of fieldapp imports.
"""

import hashlib

from sqlite_utils.migrations import Migrations

migrations = Migrations("fieldapp")

# Until 2026-12 four migrations ran out of their numbers' order; they were renumbered before any database
# outside development and tests had them. A database that applied the old names is told the new ones.
RENAMED = {"m005_por": "m002_por", "m004_alerts": "m003_alerts", "m002_sync": "m004_sync",
           "m003_picture": "m005_picture"}


def apply(db) -> None:
    """Apply what is pending, after renaming the migrations an older database knows by their old names."""
    if db["_sqlite_migrations"].exists():
        known = {row[0] for row in db.execute("SELECT name FROM _sqlite_migrations WHERE migration_set = ?",
                                              [migrations.name])}
        for old in known & set(RENAMED):  # a read first: opening a current database takes no write lock
            db.execute("UPDATE _sqlite_migrations SET name = ? WHERE migration_set = ? AND name = ?",
                       [RENAMED[old], migrations.name, old])
    if migrations.pending(db):
        migrations.apply(db)


# The category lists m001_core seeds (code, fi, sv, en); afterwards they are edited as data (categories.py).
SEEDED_CATEGORIES: dict[str, list[tuple[str, str, str, str]]] = {
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


_AUDIT_COLUMNS = """
    version INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    created_by TEXT REFERENCES users(id),
    updated_by TEXT REFERENCES users(id),
    deleted_at TEXT
"""

_FIELD_RECORD_COLUMNS = """
    id TEXT PRIMARY KEY,
    deployment_id TEXT NOT NULL REFERENCES deployments(id),
    occurred_at TEXT NOT NULL,
    lat REAL,
    lon REAL,
    place_name TEXT NOT NULL DEFAULT '',
    notes TEXT NOT NULL DEFAULT '',
    device_time TEXT,
    received_at TEXT NOT NULL,
    time_flagged INTEGER NOT NULL DEFAULT 0,
    content_hash TEXT NOT NULL DEFAULT '',
""" + _AUDIT_COLUMNS


@migrations()
def m001_core(db):
    db.executescript(
        f"""
        CREATE TABLE units (id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at TEXT NOT NULL);
        CREATE TABLE users (
            id TEXT PRIMARY KEY,
            username TEXT NOT NULL UNIQUE,
            display_name TEXT NOT NULL DEFAULT '',
            password_hash TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('officer', 'staff', 'lead', 'admin')),
            unit_id TEXT REFERENCES units(id),
            locale TEXT,
            active INTEGER NOT NULL DEFAULT 1,
            {_AUDIT_COLUMNS}
        );
        CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL REFERENCES users(id),
            csrf TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        );
        CREATE INDEX sessions_user ON sessions(user_id);
        CREATE TABLE categories (
            list TEXT NOT NULL,
            code TEXT NOT NULL,
            label_fi TEXT NOT NULL,
            label_sv TEXT NOT NULL,
            label_en TEXT NOT NULL,
            sort INTEGER NOT NULL DEFAULT 0,
            active INTEGER NOT NULL DEFAULT 1,
            PRIMARY KEY (list, code)
        );
        CREATE TABLE deployments (
            id TEXT PRIMARY KEY,
            unit_id TEXT NOT NULL REFERENCES units(id),
            name TEXT NOT NULL,
            kind TEXT NOT NULL,
            place_name TEXT NOT NULL DEFAULT '',
            lat REAL,
            lon REAL,
            starts_at TEXT NOT NULL,
            ends_at TEXT NOT NULL,
            notes TEXT NOT NULL DEFAULT '',
            {_AUDIT_COLUMNS}
        );
        CREATE INDEX deployments_unit_time ON deployments(unit_id, starts_at);
        CREATE TABLE assignments (
            deployment_id TEXT NOT NULL REFERENCES deployments(id),
            user_id TEXT NOT NULL REFERENCES users(id),
            created_at TEXT NOT NULL,
            PRIMARY KEY (deployment_id, user_id)
        );
        CREATE INDEX assignments_user ON assignments(user_id);
        CREATE TABLE presence (
            id TEXT PRIMARY KEY,
            deployment_id TEXT NOT NULL REFERENCES deployments(id),
            user_id TEXT NOT NULL REFERENCES users(id),
            checked_in_at TEXT NOT NULL,
            checked_out_at TEXT
        );
        CREATE INDEX presence_deployment ON presence(deployment_id, user_id);
        CREATE TABLE contacts (
            {_FIELD_RECORD_COLUMNS},
            age_band TEXT,
            group_size TEXT,
            group_category TEXT,
            language TEXT,
            topics TEXT NOT NULL DEFAULT '[]',
            feedback_promised INTEGER NOT NULL DEFAULT 0,
            feedback_given INTEGER NOT NULL DEFAULT 0,
            follow_up INTEGER NOT NULL DEFAULT 0,
            referral_target TEXT
        );
        CREATE INDEX contacts_deployment ON contacts(deployment_id, occurred_at);
        CREATE TABLE tensions (
            {_FIELD_RECORD_COLUMNS},
            kind TEXT NOT NULL,
            groups TEXT NOT NULL DEFAULT '[]',
            severity INTEGER NOT NULL CHECK (severity BETWEEN 1 AND 6),
            trend TEXT NOT NULL,
            basis TEXT NOT NULL,
            people_estimate INTEGER
        );
        CREATE INDEX tensions_deployment ON tensions(deployment_id, occurred_at);
        CREATE INDEX tensions_time ON tensions(occurred_at);
        CREATE TABLE interventions (
            {_FIELD_RECORD_COLUMNS},
            kind TEXT NOT NULL,
            outcome TEXT,
            referral_target TEXT,
            tension_id TEXT REFERENCES tensions(id),
            contact_id TEXT REFERENCES contacts(id)
        );
        CREATE INDEX interventions_deployment ON interventions(deployment_id, occurred_at);
        CREATE TABLE record_versions (
            record_type TEXT NOT NULL,
            record_id TEXT NOT NULL,
            version INTEGER NOT NULL,
            data TEXT NOT NULL,
            changed_by TEXT REFERENCES users(id),
            changed_at TEXT NOT NULL,
            PRIMARY KEY (record_type, record_id, version)
        );
        CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at TEXT NOT NULL,
            user_id TEXT,
            action TEXT NOT NULL,
            record_type TEXT,
            record_id TEXT,
            detail TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX audit_record ON audit_log(record_type, record_id);
        """
    )
    db["categories"].insert_all(
        [{"list": name, "code": code, "label_fi": fi, "label_sv": sv, "label_en": en, "sort": i, "active": 1}
         for name, items in SEEDED_CATEGORIES.items() for i, (code, fi, sv, en) in enumerate(items)],
        pk=("list", "code"), ignore=True)


@migrations()
def m002_por(db):
    # One statement at a time: executescript would commit and break the migration's transaction.
    db.execute("""
        CREATE TABLE por_outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            record_type TEXT NOT NULL,
            record_id TEXT NOT NULL,
            record_version INTEGER NOT NULL,
            idempotency_key TEXT NOT NULL UNIQUE,
            payload TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'retrying', 'delivered')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            last_error TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            delivered_at TEXT
        )""")
    db.execute("CREATE INDEX por_outbox_due ON por_outbox(next_attempt_at, id) WHERE state != 'delivered'")
    db.execute("CREATE INDEX por_outbox_record ON por_outbox(record_id)")
    # The endpoint this database feeds, written by the app at start (records.py has no settings to ask).
    db.execute("""
        CREATE TABLE por_config (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            endpoint TEXT NOT NULL DEFAULT '',
            configured_at TEXT
        )""")


@migrations()
def m003_alerts(db):
    db.executescript(
        """
        CREATE TABLE push_subscriptions (
            id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL REFERENCES users(id),
            endpoint TEXT NOT NULL UNIQUE,
            p256dh TEXT NOT NULL,
            auth TEXT NOT NULL,
            user_agent TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            last_success_at TEXT
        );
        CREATE INDEX push_subscriptions_user ON push_subscriptions(user_id);
        CREATE TABLE alerts (
            id TEXT PRIMARY KEY,
            unit_id TEXT NOT NULL REFERENCES units(id),
            deployment_id TEXT REFERENCES deployments(id),
            level TEXT NOT NULL CHECK (level IN ('info', 'warning', 'urgent')),
            message TEXT NOT NULL DEFAULT '',
            kind TEXT NOT NULL CHECK (kind IN ('manual', 'auto')),
            rule TEXT,
            source_key TEXT UNIQUE,
            detail TEXT NOT NULL DEFAULT '{}',
            created_by TEXT REFERENCES users(id),
            created_at TEXT NOT NULL
        );
        CREATE INDEX alerts_unit ON alerts(unit_id, created_at);
        CREATE INDEX alerts_deployment ON alerts(deployment_id);
        CREATE TABLE alert_recipients (
            alert_id TEXT NOT NULL REFERENCES alerts(id),
            user_id TEXT NOT NULL REFERENCES users(id),
            read_at TEXT,
            PRIMARY KEY (alert_id, user_id)
        );
        CREATE INDEX alert_recipients_user ON alert_recipients(user_id, read_at);
        -- subscription_id has no foreign key: a delivery row outlives a subscription the push service expired
        CREATE TABLE push_deliveries (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            alert_id TEXT NOT NULL REFERENCES alerts(id),
            subscription_id TEXT,
            user_id TEXT NOT NULL REFERENCES users(id),
            device_label TEXT NOT NULL DEFAULT '',
            state TEXT NOT NULL CHECK (state IN ('queued', 'sent', 'failed', 'expired')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT,
            status_code INTEGER,
            last_error TEXT NOT NULL DEFAULT '',
            updated_at TEXT NOT NULL
        );
        CREATE INDEX push_deliveries_alert ON push_deliveries(alert_id);
        CREATE INDEX push_deliveries_due ON push_deliveries(next_attempt_at) WHERE state = 'queued';
        -- One row: the alert rule thresholds of the running configuration (records._after_write has no settings).
        CREATE TABLE alert_config (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            tension_severity INTEGER NOT NULL,
            hotspot_score REAL,
            updated_at TEXT NOT NULL
        );
        INSERT INTO alert_config (id, tension_severity, hotspot_score, updated_at) VALUES (1, 5, NULL, '');
        """
    )


@migrations()
def m004_sync(db):
    # One statement at a time: executescript would commit and break the migration's transaction.
    # The change log the devices pull from: one row per write, seq only grows.
    db.execute("""
        CREATE TABLE changes (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            record_type TEXT NOT NULL,
            record_id TEXT NOT NULL,
            deployment_id TEXT NOT NULL,
            version INTEGER NOT NULL,
            changed_at TEXT NOT NULL
        )""")
    db.execute("CREATE INDEX changes_deployment ON changes(deployment_id, seq)")
    # What the server answered to each device submission, so a resend gets the same receipt.
    db.execute("""
        CREATE TABLE sync_receipts (
            record_id TEXT NOT NULL,
            base_version INTEGER NOT NULL,
            submission_hash TEXT NOT NULL,
            user_id TEXT NOT NULL REFERENCES users(id),
            record_type TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('accepted', 'conflict')),
            version INTEGER,
            received_at TEXT NOT NULL,
            conflict_id INTEGER,
            PRIMARY KEY (record_id, base_version, submission_hash)
        )""")
    # The device's version whenever it could not be stored as sent: both versions are kept.
    db.execute("""
        CREATE TABLE sync_conflicts (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            record_type TEXT NOT NULL,
            record_id TEXT NOT NULL,
            deployment_id TEXT NOT NULL,
            user_id TEXT NOT NULL REFERENCES users(id),
            reason TEXT NOT NULL CHECK (reason IN ('same_id_other_content', 'stale_edit')),
            base_version INTEGER,
            server_version INTEGER,
            device_values TEXT NOT NULL,
            device_time TEXT,
            created_at TEXT NOT NULL,
            resolved_at TEXT,
            resolution TEXT CHECK (resolution IN ('kept_server', 'saved_as_new')),
            resolved_record_id TEXT
        )""")
    db.execute("CREATE INDEX sync_conflicts_user ON sync_conflicts(user_id, resolved_at)")
    db.execute("CREATE INDEX sync_conflicts_record ON sync_conflicts(record_id)")
    # Records stored before this migration enter the log in the order they were last written.
    for record_type, table in (("contact", "contacts"), ("tension", "tensions"), ("intervention", "interventions")):
        db.execute(f"INSERT INTO changes (record_type, record_id, deployment_id, version, changed_at) "
                   f"SELECT '{record_type}', id, deployment_id, version, updated_at FROM {table} ORDER BY updated_at, id")


@migrations()
def m005_picture(db):
    # Situation picture (fieldapp/picture/): located tension observations with their h3 cell, links of
    # interventions to them, and hourly/daily roll-ups per resolution, cell, tension kind and group category.
    db.execute("""
        CREATE TABLE picture_obs (
            tension_id TEXT PRIMARY KEY,
            unit_id TEXT NOT NULL,
            deployment_id TEXT NOT NULL,
            occurred_at TEXT NOT NULL,
            kind TEXT NOT NULL,
            severity INTEGER NOT NULL,
            trend TEXT NOT NULL,
            groups TEXT NOT NULL DEFAULT '[]',
            cell INTEGER NOT NULL,
            lat REAL NOT NULL,
            lon REAL NOT NULL,
            linked INTEGER NOT NULL DEFAULT 0
        )""")
    db.execute("CREATE INDEX picture_obs_unit_time ON picture_obs(unit_id, occurred_at)")
    db.execute("CREATE INDEX picture_obs_deployment ON picture_obs(deployment_id, occurred_at)")
    db.execute("CREATE INDEX picture_obs_cell ON picture_obs(unit_id, cell, occurred_at)")
    db.execute("""
        CREATE TABLE picture_links (
            intervention_id TEXT PRIMARY KEY,
            tension_id TEXT NOT NULL
        )""")
    db.execute("CREATE INDEX picture_links_tension ON picture_links(tension_id)")
    counts = ",\n".join(f"{p}{s} INTEGER NOT NULL DEFAULT 0"
                        for p in ("n", "up", "down", "ln") for s in ("", *range(1, 7)))
    # span 'h': bucket 'YYYY-MM-DDTHH'; span 'd': bucket 'YYYY-MM-DD' (UTC). grp '' and kind '' count every
    # observation; n/up/down/ln are totals, n1..n6 etc. the same per severity (for a severity filter).
    db.execute(f"""
        CREATE TABLE picture_rollup (
            span TEXT NOT NULL,
            res INTEGER NOT NULL,
            unit_id TEXT NOT NULL,
            grp TEXT NOT NULL,
            kind TEXT NOT NULL,
            parent INTEGER NOT NULL,
            bucket TEXT NOT NULL,
            cell INTEGER NOT NULL,
            {counts},
            score INTEGER NOT NULL DEFAULT 0,
            last_at TEXT NOT NULL,
            PRIMARY KEY (span, res, unit_id, grp, kind, parent, bucket, cell)
        ) WITHOUT ROWID""")
    db.execute("""
        CREATE TABLE picture_parents (
            res INTEGER NOT NULL,
            unit_id TEXT NOT NULL,
            parent INTEGER NOT NULL,
            PRIMARY KEY (res, unit_id, parent)
        ) WITHOUT ROWID""")
    # No database that held records before the picture existed is left (it shipped with the first release);
    # for one, picture.rebuild() adds them.


@migrations()
def m006_previous_versions(db):
    # record_versions keeps the previous versions of a record only; the current one is the record's row
    # (records.history() joins the two). Snapshots of current versions written before this go.
    for record_type, table in (("contact", "contacts"), ("tension", "tensions"), ("intervention", "interventions")):
        db.execute(f"DELETE FROM record_versions WHERE record_type = '{record_type}' AND EXISTS (SELECT 1 "
                   f"FROM {table} r WHERE r.id = record_versions.record_id AND r.deleted_at IS NULL "
                   "AND r.version = record_versions.version)")


@migrations()
def m007_record_seq(db):
    # Every field record carries the position of its latest write (create, edit, delete) in one sequence
    # that only grows: devices pull by it (fieldapp/offline/sync.py) and the projections (situation
    # picture, alerts, POR feed: fieldapp/projections.py) follow it with a cursor of their own, after the
    # write's transaction. It replaces the changes table; each record keeps its newest position there, so
    # the cursors devices hold stay valid.
    db.execute("CREATE TABLE sequences (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID")
    db.execute("CREATE TEMP TABLE newest_change AS SELECT record_id, MAX(seq) AS seq FROM changes GROUP BY record_id")
    db.execute("CREATE INDEX temp.newest_change_record ON newest_change(record_id)")
    for table in ("contacts", "tensions", "interventions"):
        db.execute(f"ALTER TABLE {table} ADD COLUMN seq INTEGER NOT NULL DEFAULT 0")
        # The hash of the device's submission that created the record (sync): a resend of it is known at once.
        db.execute(f"ALTER TABLE {table} ADD COLUMN submission_hash TEXT")
        db.execute(f"UPDATE {table} SET seq = COALESCE((SELECT seq FROM newest_change n WHERE n.record_id = "
                   f"{table}.id), 0)")
        db.execute(f"CREATE INDEX {table}_seq ON {table}(seq)")
        db.execute(f"CREATE INDEX {table}_deployment_seq ON {table}(deployment_id, seq)")
    db.execute("DROP TABLE temp.newest_change")
    newest = db.execute("SELECT COALESCE(MAX(seq), 0) FROM changes").fetchone()[0]
    # 'records': the newest position given out; 'projected': how far the projections have applied the
    # records (until now they ran inside each write, so they are current).
    db.execute("INSERT INTO sequences (name, value) VALUES ('records', ?), ('projected', ?)", [newest, newest])
    db.execute("DROP TABLE changes")
    # A resend is compared with the stored content itself (records.content), so content_hash goes.
    for table in ("contacts", "tensions", "interventions"):
        db.execute(f"ALTER TABLE {table} DROP COLUMN content_hash")


@migrations()
def m008_category_version(db):
    # Category lists are edited as data, by SQL too: every change counts up 'categories' in sequences, so a
    # process keeps the valid codes in memory and reads them again only after a change (categories.all_codes).
    db.execute("INSERT OR IGNORE INTO sequences (name, value) VALUES ('categories', 0)")
    for event in ("INSERT", "UPDATE", "DELETE"):
        db.execute(f"CREATE TRIGGER categories_{event.lower()} AFTER {event} ON categories BEGIN "
                   "UPDATE sequences SET value = value + 1 WHERE name = 'categories'; END")


@migrations()
def m009_conflict_saved_over(db):
    # A stale edit the officer settles with "use my version" is saved over the server's version (which stays in
    # the history): a resolution of its own. SQLite cannot change a CHECK constraint in place: the table is
    # made again with the same rows.
    sql = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'sync_conflicts'").fetchone()[0]
    db.execute("ALTER TABLE sync_conflicts RENAME TO sync_conflicts_old")
    db.execute(sql.replace("('kept_server', 'saved_as_new')", "('kept_server', 'saved_as_new', 'saved_over')"))
    db.execute("INSERT INTO sync_conflicts SELECT * FROM sync_conflicts_old")
    db.execute("DROP TABLE sync_conflicts_old")
    db.execute("CREATE INDEX sync_conflicts_user ON sync_conflicts(user_id, resolved_at)")
    db.execute("CREATE INDEX sync_conflicts_record ON sync_conflicts(record_id)")


# The audit row's hash as audit.py computes it, frozen here: SHA-256 over the previous row's hash and this
# row's content, each part prefixed with its length (None as '-'), so no two contents read the same.
def _m010_row_hash(prev_hash, at, user_id, action, record_type, record_id, detail, outcome):
    parts = [prev_hash, at, user_id, action, record_type, record_id, detail, outcome]
    text = "".join("-" if p is None else f"{len(str(p))}:{p}" for p in parts)
    return hashlib.sha256(text.encode()).hexdigest()


@migrations()
def m010_audit_chain(db):
    # The access log (2016/680 art. 25): every row says how it ended (outcome: ok, refused, not_found, failed) and
    # carries a SHA-256 of its content chained to the row before it (audit.verify walks the chain). Rows already
    # written are chained here, oldest first, from an empty start.
    db.execute("ALTER TABLE audit_log ADD COLUMN outcome TEXT NOT NULL DEFAULT 'ok'")
    db.execute("ALTER TABLE audit_log ADD COLUMN prev_hash TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE audit_log ADD COLUMN hash TEXT NOT NULL DEFAULT ''")
    prev = ""
    rows = db.execute("SELECT id, at, user_id, action, record_type, record_id, detail, outcome FROM audit_log "
                      "ORDER BY id").fetchall()
    for row_id, *content in rows:
        digest = _m010_row_hash(prev, *content)
        db.execute("UPDATE audit_log SET prev_hash = ?, hash = ? WHERE id = ?", [prev, digest, row_id])
        prev = digest
    db.execute("CREATE INDEX audit_at ON audit_log(at)")
    db.execute("CREATE INDEX audit_user_at ON audit_log(user_id, at)")
    # Append-only: no row is ever changed; a row goes only when the retention purge has first written its receipt
    # (action 'purge', target 'retention', record_id = the id of the oldest row kept), and only rows before that id.
    db.execute("CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN "
               "SELECT RAISE(ABORT, 'audit_log is append-only'); END")
    db.execute("CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log WHEN OLD.id >= COALESCE((SELECT "
               "MAX(CAST(record_id AS INTEGER)) FROM audit_log WHERE record_type = 'retention' AND action = 'purge'), 0) "
               "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END")


@migrations()
def m011_followups(db):
    # The follow-up queue (issue 14): a contact or intervention that promised feedback or needs a follow-up has one
    # follow-up (unique per record), owned by an officer, due on a day (Helsinki), open until done or "cannot be
    # done" with a reason. How feedback was given is a code; the note is short and checked for identity codes.
    db.executescript(
        """
        CREATE TABLE followups (
            id TEXT PRIMARY KEY,
            unit_id TEXT NOT NULL REFERENCES units(id),
            record_type TEXT NOT NULL CHECK (record_type IN ('contact', 'intervention')),
            record_id TEXT NOT NULL,
            deployment_id TEXT NOT NULL REFERENCES deployments(id),
            feedback_promised INTEGER NOT NULL DEFAULT 0,
            owner_id TEXT NOT NULL REFERENCES users(id),
            due_on TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'done', 'cannot')),
            given_at TEXT,
            given_how TEXT CHECK (given_how IN ('in_person', 'phone', 'partner', 'community_meeting')),
            note TEXT NOT NULL DEFAULT '',
            cannot_reason TEXT NOT NULL DEFAULT '',
            closed_at TEXT,
            closed_by TEXT REFERENCES users(id),
            reminded_at TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            UNIQUE (record_type, record_id)
        );
        CREATE INDEX followups_owner ON followups(owner_id, state, due_on);
        CREATE INDEX followups_unit ON followups(unit_id, state, due_on);
        -- One row per action a device sent (its own id): a resend gets the first answer and changes nothing.
        CREATE TABLE followup_actions (
            id TEXT PRIMARY KEY,
            followup_id TEXT NOT NULL,
            user_id TEXT NOT NULL REFERENCES users(id),
            content_hash TEXT NOT NULL,
            outcome TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        -- Days from the record to its follow-up's due day, per unit (a lead edits it; no row: the default).
        CREATE TABLE unit_followup_settings (
            unit_id TEXT PRIMARY KEY REFERENCES units(id),
            due_days INTEGER NOT NULL CHECK (due_days BETWEEN 1 AND 365),
            updated_by TEXT REFERENCES users(id),
            updated_at TEXT NOT NULL
        );
        """
    )


# The partner organisations' kinds (code, fi, sv, en), seeded by m012 and then edited as data like every list.
M012_PARTNER_KINDS = [
    ("ngo", "Järjestö", "Organisation", "NGO"),
    ("religious_community", "Uskonnollinen yhteisö", "Religiöst samfund", "Religious community"),
    ("school", "Oppilaitos", "Läroanstalt", "School"),
    ("youth_services", "Kaupungin nuorisopalvelut", "Stadens ungdomstjänster", "City youth services"),
    ("social_services", "Sosiaalipalvelut", "Socialtjänster", "Social services"),
    ("anchor_team", "Ankkuri-tiimi", "Ankkuri-team", "Anchor team"),
    ("mediation_office", "Sovittelutoimisto", "Medlingsbyrå", "Mediation office"),
    ("victim_support", "Rikosuhripäivystys", "Brottsofferjouren", "Victim Support"),
    ("village_actor", "Kylätoimija", "Byaktör", "Village actor"),
    ("business", "Yritys tai kauppakeskus", "Företag eller köpcentrum", "Business or shopping centre"),
    ("other", "Muu", "Annan", "Other"),
]


@migrations()
def m012_problems_partners(db):
    # The partner directory (organisations only: a contact person is a role, never a name) and POR problems:
    # an area (h3 cells and/or a named place), linked field records (links, counted live), partners, agreed
    # measures, a review date and an outcome with the area's tension before and after. problem_versions keeps
    # a problem's previous versions (the current one is its row with its cells, links and measures).
    db.execute("""
        CREATE TABLE partners (
            id TEXT PRIMARY KEY,
            unit_id TEXT NOT NULL REFERENCES units(id),
            name TEXT NOT NULL,
            kind TEXT NOT NULL,
            languages TEXT NOT NULL DEFAULT '[]',
            area TEXT NOT NULL DEFAULT '',
            offers TEXT NOT NULL DEFAULT '',
            contact_role TEXT NOT NULL DEFAULT '',
            active INTEGER NOT NULL DEFAULT 1,
            version INTEGER NOT NULL DEFAULT 1,
            created_by TEXT REFERENCES users(id),
            created_at TEXT NOT NULL,
            updated_by TEXT REFERENCES users(id),
            updated_at TEXT NOT NULL
        )""")
    db.execute("CREATE UNIQUE INDEX partners_unit_name ON partners(unit_id, lower(name))")
    db.execute("""
        CREATE TABLE problems (
            id TEXT PRIMARY KEY,
            unit_id TEXT NOT NULL REFERENCES units(id),
            title TEXT NOT NULL,
            place_name TEXT NOT NULL DEFAULT '',
            description TEXT NOT NULL DEFAULT '',
            origin TEXT NOT NULL CHECK (origin IN ('hotspot', 'deployment', 'manual')),
            deployment_id TEXT REFERENCES deployments(id),
            state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),
            review_date TEXT,
            public_title TEXT NOT NULL DEFAULT '',
            outcome TEXT CHECK (outcome IN ('better', 'no_change', 'worse')),
            trend_before TEXT,
            trend_after TEXT,
            opened_at TEXT NOT NULL,
            closed_at TEXT,
            version INTEGER NOT NULL DEFAULT 1,
            created_by TEXT REFERENCES users(id),
            created_at TEXT NOT NULL,
            updated_by TEXT REFERENCES users(id),
            updated_at TEXT NOT NULL
        )""")
    db.execute("CREATE INDEX problems_unit_state ON problems(unit_id, state, review_date)")
    db.execute("""
        CREATE TABLE problem_cells (
            problem_id TEXT NOT NULL REFERENCES problems(id),
            cell TEXT NOT NULL,
            PRIMARY KEY (problem_id, cell)
        ) WITHOUT ROWID""")
    db.execute("""
        CREATE TABLE problem_records (
            problem_id TEXT NOT NULL REFERENCES problems(id),
            record_type TEXT NOT NULL CHECK (record_type IN ('contact', 'tension', 'intervention')),
            record_id TEXT NOT NULL,
            PRIMARY KEY (problem_id, record_type, record_id)
        ) WITHOUT ROWID""")
    db.execute("CREATE INDEX problem_records_record ON problem_records(record_id)")
    db.execute("""
        CREATE TABLE problem_partners (
            problem_id TEXT NOT NULL REFERENCES problems(id),
            partner_id TEXT NOT NULL REFERENCES partners(id),
            PRIMARY KEY (problem_id, partner_id)
        ) WITHOUT ROWID""")
    db.execute("CREATE INDEX problem_partners_partner ON problem_partners(partner_id)")
    db.execute("""
        CREATE TABLE problem_measures (
            id TEXT PRIMARY KEY,
            problem_id TEXT NOT NULL REFERENCES problems(id),
            what TEXT NOT NULL,
            who TEXT NOT NULL DEFAULT '',
            due_date TEXT,
            state TEXT NOT NULL DEFAULT 'agreed' CHECK (state IN ('agreed', 'in_progress', 'done', 'dropped')),
            public INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""")
    db.execute("CREATE INDEX problem_measures_problem ON problem_measures(problem_id)")
    db.execute("""
        CREATE TABLE problem_versions (
            problem_id TEXT NOT NULL REFERENCES problems(id),
            version INTEGER NOT NULL,
            data TEXT NOT NULL,
            changed_by TEXT REFERENCES users(id),
            changed_at TEXT NOT NULL,
            PRIMARY KEY (problem_id, version)
        )""")
    # Officers a lead allows to open and edit problems of their unit (leads and administrators always may).
    db.execute("""
        CREATE TABLE problem_openers (
            user_id TEXT PRIMARY KEY REFERENCES users(id),
            granted_by TEXT REFERENCES users(id),
            granted_at TEXT NOT NULL
        )""")
    # Who was there: partners present at a deployment.
    db.execute("""
        CREATE TABLE deployment_partners (
            deployment_id TEXT NOT NULL REFERENCES deployments(id),
            partner_id TEXT NOT NULL REFERENCES partners(id),
            PRIMARY KEY (deployment_id, partner_id)
        ) WITHOUT ROWID""")
    db.execute("CREATE INDEX deployment_partners_partner ON deployment_partners(partner_id)")
    # A referral may name a partner of the directory besides the kind of service (referral_target).
    db.execute("ALTER TABLE interventions ADD COLUMN referral_partner_id TEXT REFERENCES partners(id)")
    for sort, (code, fi, sv, en) in enumerate(M012_PARTNER_KINDS):
        db.execute("INSERT OR IGNORE INTO categories (list, code, label_fi, label_sv, label_en, sort, active) "
                   "VALUES ('partner_kinds', ?, ?, ?, ?, ?, 1)", [code, fi, sv, en, sort])


@migrations()
def m013_public_links(db):
    # What partners may see (issue 14): a lead publishes a partner summary as a read-only link with an expiry. The
    # summary is kept as it was published (JSON, already under the disclosure rule: no free text, no count of 1-4),
    # so a link shows the same numbers until it expires or is revoked. The token is the only key a partner has.
    db.executescript(
        """
        CREATE TABLE public_links (
            id TEXT PRIMARY KEY,
            token TEXT NOT NULL UNIQUE,
            unit_id TEXT NOT NULL REFERENCES units(id),
            created_by TEXT NOT NULL REFERENCES users(id),
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            revoked_at TEXT,
            revoked_by TEXT REFERENCES users(id),
            query TEXT NOT NULL DEFAULT '{}',
            summary TEXT NOT NULL
        );
        CREATE INDEX public_links_unit ON public_links(unit_id, created_at);
        """
    )


# Entries the seed documents name that the first lists lacked, and the perceived motive of an act of hatred
# (the acts-of-hatred guide's definition of a hate crime): (code, fi, sv, en), placed before the list's 'other'.
M014_ADDED: dict[str, list[tuple[str, str, str, str]]] = {
    "group_category": [
        ("sami", "Saamelaiset", "Samer", "Sámi people"),
        ("roma", "Romanit", "Romer", "Roma"),
        ("persons_with_disabilities", "Vammaiset henkilöt", "Personer med funktionsnedsättning",
         "Persons with disabilities"),
    ],
    "language": [
        ("se", "Pohjoissaame", "Nordsamiska", "Northern Sámi"),
    ],
    "referral_target": [
        ("health_services", "Terveyspalvelut", "Hälso- och sjukvårdstjänster", "Health services"),
        ("reception_centre", "Vastaanottokeskus", "Mottagningscentral", "Reception centre"),
    ],
    "motive": [
        ("race_colour", "Rotu tai ihonväri", "Ras eller hudfärg", "Race or colour"),
        ("origin", "Kansallinen tai etninen alkuperä", "Nationellt eller etniskt ursprung",
         "National or ethnic origin"),
        ("religion_belief", "Uskonto tai vakaumus", "Religion eller övertygelse", "Religion or belief"),
        ("sexual_orientation", "Seksuaalinen suuntautuminen", "Sexuell läggning", "Sexual orientation"),
        ("disability", "Vammaisuus", "Funktionsnedsättning", "Disability"),
        ("gender_identity", "Sukupuoli-identiteetti tai sukupuolen ilmaisu", "Könsidentitet eller könsuttryck",
         "Gender identity or expression"),
        ("other", "Muu motiivi", "Annat motiv", "Other motive"),
    ],
}


@migrations()
def m014_categories_motive(db):
    # The perceived motive of an act of hatred (a motive of an event, never a trait of a person) on contacts and
    # tension observations, as a list of 'motive' codes; on contacts also whether the person was advised on how to
    # report and whether a report of an offence was made.
    db.execute("ALTER TABLE contacts ADD COLUMN motives TEXT NOT NULL DEFAULT '[]'")
    db.execute("ALTER TABLE contacts ADD COLUMN advised_to_report INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE contacts ADD COLUMN offence_reported INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE tensions ADD COLUMN motives TEXT NOT NULL DEFAULT '[]'")
    for list_name, items in M014_ADDED.items():
        other = db.execute("SELECT sort FROM categories WHERE list = ? AND code = 'other'", [list_name]).fetchone()
        if other is not None and list_name != "motive":
            start = other[0]
            db.execute("UPDATE categories SET sort = sort + ? WHERE list = ? AND sort >= ?",
                       [len(items), list_name, start])
        else:
            start = (db.execute("SELECT COALESCE(MAX(sort) + 1, 0) FROM categories WHERE list = ?",
                                [list_name]).fetchone()[0])
        for i, (code, fi, sv, en) in enumerate(items):
            db.execute("INSERT OR IGNORE INTO categories (list, code, label_fi, label_sv, label_en, sort, active) "
                       "VALUES (?, ?, ?, ?, ?, ?, 1)", [list_name, code, fi, sv, en, start + i])


# The activity kinds m015 seeds (code, fi, sv, en); afterwards edited as data like every category list.
M015_ACTIVITY_KINDS = [
    ("online_presence", "Verkkonäkyvyys", "Närvaro på nätet", "Online presence"),
    ("school_visit", "Koulu- tai oppilaitosvierailu", "Skol- eller läroanstaltsbesök", "School or education visit"),
    ("community_meeting", "Asukas- tai yhteisötilaisuus, kysymystunti", "Invånar- eller gemenskapsmöte, frågestund",
     "Community meeting or Q&A"),
    ("religious_visit", "Vierailu uskonnollisessa yhteisössä", "Besök i ett religiöst samfund",
     "Visit to a religious community"),
    ("training_given", "Annettu koulutus", "Given utbildning", "Training given"),
    ("training_received", "Saatu koulutus", "Mottagen utbildning", "Training received"),
    ("partner_meeting", "Kumppanitapaaminen", "Partnermöte", "Partner meeting"),
    ("anchor_work", "Ankkuri-työ", "Ankkuriarbete", "Anchor team work"),
    ("other", "Muu toiminta", "Annan verksamhet", "Other activity"),
]


@migrations()
def m015_activities_targets(db):
    # The strategy's yearly report (fieldapp/yearly_report.py): preventive work outside deployments (activities),
    # departments above units, the department role (head of preventive work) and yearly targets per unit.
    db.execute("CREATE TABLE departments (id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at TEXT NOT NULL)")
    db.execute("ALTER TABLE units ADD COLUMN department_id TEXT REFERENCES departments(id)")
    if db.execute("SELECT COUNT(*) FROM units").fetchone()[0]:
        # Units made before departments existed belong to one department until an administrator says otherwise.
        db.execute("INSERT INTO departments (id, name, created_at) VALUES ('department-1', 'Department', "
                   "strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))")
        db.execute("UPDATE units SET department_id = 'department-1'")
    # The role list is a CHECK in users' CREATE TABLE; users is referenced by most tables, so instead of making it
    # again the stored definition gets the new role (the same rows satisfy it: it only allows more).
    old = "role IN ('officer', 'staff', 'lead', 'admin')"
    new = "role IN ('officer', 'staff', 'lead', 'admin', 'department')"
    sql = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'users'").fetchone()[0]
    if old in sql:
        schema_version = db.execute("PRAGMA schema_version").fetchone()[0]
        db.execute("PRAGMA writable_schema = ON")
        db.execute("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'users'",
                   [sql.replace(old, new)])
        db.execute(f"PRAGMA schema_version = {schema_version + 1}")
        db.execute("PRAGMA writable_schema = OFF")
    # An activity: one piece of preventive work by one officer outside a deployment's presence (online presence,
    # a school visit, a partner meeting...). Made on the device (its id), synced like a record, never edited there.
    db.execute("""
        CREATE TABLE activities (
            id TEXT PRIMARY KEY,
            unit_id TEXT NOT NULL REFERENCES units(id),
            user_id TEXT NOT NULL REFERENCES users(id),
            kind TEXT NOT NULL,
            starts_at TEXT NOT NULL,
            ends_at TEXT NOT NULL,
            minutes INTEGER NOT NULL CHECK (minutes BETWEEN 1 AND 1440),
            place_name TEXT NOT NULL DEFAULT '',
            platform TEXT NOT NULL DEFAULT '',
            online_activity TEXT NOT NULL DEFAULT '',
            people_reached INTEGER NOT NULL DEFAULT 0 CHECK (people_reached >= 0),
            languages TEXT NOT NULL DEFAULT '[]',
            topics TEXT NOT NULL DEFAULT '[]',
            contact_ids TEXT NOT NULL DEFAULT '[]',
            intervention_ids TEXT NOT NULL DEFAULT '[]',
            submission_hash TEXT NOT NULL DEFAULT '',
            device_time TEXT,
            received_at TEXT NOT NULL,
            version INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL,
            deleted_at TEXT
        )""")
    db.execute("CREATE INDEX activities_unit_time ON activities(unit_id, starts_at)")
    db.execute("CREATE INDEX activities_user_time ON activities(user_id, starts_at)")
    # A target: the figure a unit aims at in a year for one declared indicator (yearly_report.INDICATORS).
    db.execute("""
        CREATE TABLE targets (
            unit_id TEXT NOT NULL REFERENCES units(id),
            year INTEGER NOT NULL,
            indicator TEXT NOT NULL,
            value REAL NOT NULL CHECK (value >= 0),
            set_by TEXT REFERENCES users(id),
            set_at TEXT NOT NULL,
            PRIMARY KEY (unit_id, year, indicator)
        ) WITHOUT ROWID""")
    db.execute("INSERT OR IGNORE INTO categories (list, code, label_fi, label_sv, label_en, sort, active) "
               "VALUES " + ", ".join(["('activity_kinds', ?, ?, ?, ?, ?, 1)"] * len(M015_ACTIVITY_KINDS)),
               [v for i, (code, fi, sv, en) in enumerate(M015_ACTIVITY_KINDS) for v in (code, fi, sv, en, i)])
    # Online contacts and interventions are ordinary records with the channel 'online' (empty: not recorded).
    for table in ("contacts", "interventions"):
        db.execute(f"ALTER TABLE {table} ADD COLUMN channel TEXT")
    db.execute("INSERT OR IGNORE INTO categories (list, code, label_fi, label_sv, label_en, sort, active) VALUES "
               "('channel', 'in_person', 'Kasvokkain', 'Ansikte mot ansikte', 'In person', 0, 1), "
               "('channel', 'online', 'Verkossa', 'På nätet', 'Online', 1, 1)")


@migrations()
def m016_devices(db):
    # Registered devices (issue 12): each browser install that logs in. Only a hash of the device cookie is kept.
    # A revoked device is answered 401 with Clear-Site-Data on its next request (wiped_at: when that happened);
    # waiting is how many records its outbox held when it last reported (they go with the wipe).
    db.execute("""CREATE TABLE devices (
        id TEXT PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        user_id TEXT NOT NULL REFERENCES users(id),
        name TEXT NOT NULL DEFAULT '',
        user_agent TEXT NOT NULL DEFAULT '',
        app_version TEXT NOT NULL DEFAULT '',
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        waiting INTEGER,
        waiting_at TEXT,
        revoked_at TEXT,
        revoked_by TEXT REFERENCES users(id),
        wiped_at TEXT
    )""")
    db.execute("CREATE INDEX devices_user ON devices(user_id, last_seen)")
    db.execute("ALTER TABLE sessions ADD COLUMN device_id TEXT REFERENCES devices(id)")
    db.execute("CREATE INDEX sessions_device ON sessions(device_id)")


@migrations()
def m017_pull_indexes(db):
    # The bounded pull (fieldapp/offline/pull.py, issue 13): a device's own records since its cursor, and the
    # edits and deletions of its deployments since its cursor, each found without reading every colleague's new
    # records (a partial index holds only records changed after their creation).
    for table in ("contacts", "tensions", "interventions"):
        db.execute(f"CREATE INDEX {table}_author_seq ON {table}(created_by, seq)")
        db.execute(f"CREATE INDEX {table}_changed_seq ON {table}(deployment_id, seq) "
                   "WHERE version > 1 OR deleted_at IS NOT NULL")


@migrations()
def m018_followup_reopenings(db):
    # A done follow-up can be reopened (feedback turned out not to be enough, or was marked by mistake): it is open
    # again with a new due day, and each reopening keeps who, when, why and what the follow-up said before (its
    # feedback, its due day), so the history is never overwritten. reopened_at on the follow-up: the latest one.
    db.execute("ALTER TABLE followups ADD COLUMN reopened_at TEXT")
    db.execute("""CREATE TABLE followup_reopenings (
        id TEXT PRIMARY KEY,
        followup_id TEXT NOT NULL REFERENCES followups(id) ON DELETE CASCADE,
        reopened_at TEXT NOT NULL,
        reopened_by TEXT NOT NULL REFERENCES users(id),
        reason TEXT NOT NULL,
        due_on TEXT NOT NULL,
        new_due_on TEXT NOT NULL,
        given_at TEXT,
        given_how TEXT,
        note TEXT NOT NULL DEFAULT '',
        closed_at TEXT,
        closed_by TEXT REFERENCES users(id)
    )""")
    db.execute("CREATE INDEX followup_reopenings_followup ON followup_reopenings(followup_id, reopened_at)")


@migrations()
def m019_followup_queue_order(db):
    # The queues are ordered by due day, then creation: with created_at in the index too, the first 50 of an
    # officer's or unit's open follow-ups are read in order and the rest not at all (before, every open one of
    # the first due day was joined and sorted: 7.6 ms for an officer with 3,900, bench/README.md).
    for name, column in (("followups_owner", "owner_id"), ("followups_unit", "unit_id")):
        db.execute(f"DROP INDEX {name}")
        db.execute(f"CREATE INDEX {name} ON followups({column}, state, due_on, created_at)")
