"""Demo data of the hate-crime motive: the demo's contacts about an experienced act of hatred or hate speech, and its
tension observations of hate speech or symbols, get a perceived motive (synthetic, drawn at random); some
contacts were advised on how to report, fewer made a report of an offence."""

from __future__ import annotations

import json

from fieldapp.db import write

MOTIVES = ["race_colour", "origin", "religion_belief", "sexual_orientation", "disability", "gender_identity", "other"]


def add_motives(db, unit_id: str, rng) -> None:
    """Motives and flags on the unit's demo records where an act of hatred was experienced or reported."""
    in_unit = "deployment_id IN (SELECT id FROM deployments WHERE unit_id = ?)"
    with write(db):
        contacts = db.execute(
            f"SELECT id FROM contacts WHERE {in_unit} AND EXISTS (SELECT 1 FROM json_each(topics) "
            "WHERE value IN ('hate_act', 'hate_speech')) ORDER BY id", [unit_id]).fetchall()
        for (record_id,) in contacts:
            motives = rng.sample(MOTIVES[:6], 1 if rng.random() < 0.8 else 2)
            advised = rng.random() < 0.6
            db.execute("UPDATE contacts SET motives = ?, advised_to_report = ?, offence_reported = ? WHERE id = ?",
                       [json.dumps(motives), int(advised), int(advised and rng.random() < 0.4), record_id])
        tensions = db.execute(f"SELECT id FROM tensions WHERE {in_unit} AND kind = 'hate_speech_symbols' ORDER BY id",
                              [unit_id]).fetchall()
        for (record_id,) in tensions:
            db.execute("UPDATE tensions SET motives = ? WHERE id = ?", [json.dumps([rng.choice(MOTIVES[:6])]), record_id])
