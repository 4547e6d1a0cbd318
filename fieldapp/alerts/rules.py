"""The automatic alerts: rules that warn a unit's leads about what the field records show.

A recent tension observation at or above the configured severity alerts the leads (once per
observation); a situation-picture cell whose recent score reaches the configured level alerts them too
(once per cell and day). The rules run as a projection of the field records (fieldapp/projections.py,
right after the records' transaction, after the situation picture whose scores the hotspot rule reads).
Their thresholds live in the one-row table alert_config, written by the app at start, because the
projections have no settings. No web imports.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from fieldapp import deployments as deployments_domain
from fieldapp import picture
from fieldapp.alerts.messages import create
from fieldapp.clock import HELSINKI, iso, parse, utcnow
from fieldapp.db import one, write

log = logging.getLogger("fieldapp.alerts")
# A tension observation that arrives long after it happened is history, not a warning.
AUTO_WINDOW = timedelta(hours=12)
HOTSPOT_RES = 8  # situation-picture cells about 0.9 km across: a square, a block
HOTSPOT_WINDOW = timedelta(hours=3)


def configure(db, tension_severity: int, hotspot_score: float | None) -> None:
    """Record the running configuration's thresholds (at app start), so that the projections can read them.

    A hotspot score of 0 or None turns the hotspot rule off.
    """
    with write(db):
        db.execute("UPDATE alert_config SET tension_severity = ?, hotspot_score = ?, updated_at = ? WHERE id = 1",
                   [int(tension_severity), hotspot_score or None, iso(utcnow())])


def thresholds(db) -> dict:
    """The thresholds configure() stored: tension_severity and hotspot_score (None: the hotspot rule is off)."""
    return one(db, "SELECT tension_severity, hotspot_score FROM alert_config WHERE id = 1") or {
        "tension_severity": 5, "hotspot_score": None}


def _unit_leads(db, unit_id: str) -> list[str]:
    return [r["id"] for r in db.query(
        "SELECT id FROM users WHERE unit_id = ? AND role = 'lead' AND active = 1 ORDER BY id", [unit_id])]


def records_written(db, kind_name: str, records: list[dict]) -> None:
    """The automatic rules, applied to created, edited and deleted records of one kind (a form's record or
    a sync batch, in their order: fieldapp/projections.py). Per batch: the thresholds, each deployment, the
    alerts already made for these records and each unit's leads are read once; the hotspot rule reads the
    score of each cell the batch touches once, after the picture has counted the whole batch."""
    if kind_name != "tension":
        return
    now = utcnow()
    deployments: dict[str, dict | None] = {}
    recent: list[tuple[dict, dict]] = []
    for record in records:
        if record.get("deleted_at"):
            continue
        try:
            if now - parse(record["occurred_at"]) > AUTO_WINDOW:
                continue
        except (ValueError, OverflowError, TypeError, KeyError):
            continue
        if record["deployment_id"] not in deployments:
            deployments[record["deployment_id"]] = deployments_domain.get(db, record["deployment_id"])
        deployment = deployments[record["deployment_id"]]
        if deployment is not None:
            recent.append((record, deployment))
    if not recent:
        return
    config = thresholds(db)
    leads: dict[str, list[str]] = {}

    def unit_leads(unit_id: str) -> list[str]:
        if unit_id not in leads:
            leads[unit_id] = _unit_leads(db, unit_id)
        return leads[unit_id]

    severe = [(r, d) for r, d in recent if (r.get("severity") or 0) >= config["tension_severity"]]
    if severe:
        keys = [f"tension:{r['id']}" for r, _d in severe]
        made = {row[0] for row in db.conn.execute(
            f"SELECT source_key FROM alerts WHERE source_key IN ({','.join('?' * len(keys))})", keys)}
        for record, deployment in severe:
            if f"tension:{record['id']}" not in made:
                made.add(f"tension:{record['id']}")
                _severe_tension(db, record, deployment, unit_leads)
    if config["hotspot_score"]:
        _hotspots(db, recent, config["hotspot_score"], unit_leads)


def _severe_tension(db, record: dict, deployment: dict, unit_leads) -> dict | None:
    """Alert the leads of a severe observation (the caller checked the severity and that none was made yet)."""
    severity = record.get("severity") or 0
    source_key = f"tension:{record['id']}"
    author = record.get("updated_by") or record.get("created_by")
    leads = [uid for uid in unit_leads(deployment["unit_id"]) if uid != author]  # the author knows already
    if not leads:
        return None
    return create(db, unit_id=deployment["unit_id"], deployment_id=deployment["id"],
                  level="urgent" if severity >= 6 else "warning", message="", kind="auto", rule="tension_severity",
                  source_key=source_key, recipients=leads,
                  detail={"record_id": record["id"], "severity": severity, "kind": record.get("kind"),
                          "trend": record.get("trend")})


def _hotspots(db, recent: list[tuple[dict, dict]], threshold: float, unit_leads) -> None:
    """The hotspot rule for a batch: each (unit, cell) it touches once, for the first of its records there
    (whose deployment the alert names), as if the records came one by one after the whole batch was counted."""
    cells: dict[tuple[str, int], dict] = {}
    for record, deployment in recent:
        if record.get("lat") is None or record.get("lon") is None:
            continue
        try:
            cell = picture.parent_of(picture.cell_int(record["lat"], record["lon"]), HOTSPOT_RES)
        except Exception:  # a location h3 cannot place: no hotspot for it, the others go on
            log.exception("hotspot alert rule failed")
            continue
        cells.setdefault((deployment["unit_id"], cell), deployment)
    for (_unit_id, cell), deployment in cells.items():
        _hotspot(db, cell, deployment, threshold, unit_leads)


def _hotspot(db, cell: int, deployment: dict, threshold: float, unit_leads) -> dict | None:
    """Alert the leads when a cell (about 0.9 km) reaches the score level in the last hours."""
    try:
        now = utcnow()
        window = picture.PictureFilter(start=now - HOTSPOT_WINDOW, end=now + timedelta(minutes=10), window="custom")
        # The situation picture's own scores (projected just before the alerts).
        score = picture.cell_summary(db, picture.Scope(deployment["unit_id"]), window, cell).score
        if score < threshold:
            return None
        cell_text = picture.CellSummary(cell, HOTSPOT_RES).h3
        source_key = f"hotspot:{deployment['unit_id']}:{cell_text}:{now.astimezone(HELSINKI).date().isoformat()}"
        if one(db, "SELECT 1 AS x FROM alerts WHERE source_key = ?", [source_key]):
            return None
        leads = unit_leads(deployment["unit_id"])
        if not leads:
            return None
        with write(db):  # a savepoint: a failure here leaves no half-made alert behind
            return create(db, unit_id=deployment["unit_id"], deployment_id=deployment["id"], level="warning",
                          message="", kind="auto", rule="hotspot", source_key=source_key, recipients=leads,
                          detail={"cell": cell_text, "score": score, "threshold": threshold,
                                  "hours": HOTSPOT_WINDOW.total_seconds() / 3600})
    except Exception:  # the officer's record must be stored even if the hotspot check fails
        log.exception("hotspot alert rule failed")
        return None
