"""Schema migrations: named functions, each in its own transaction. Never edit one that has shipped."""

from sqlite_utils.migrations import Migrations

from fieldapp import categories

migrations = Migrations("fieldapp")

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
    categories.seed_defaults(db)
