"""The `fieldapp` command: serve, demo, user add, migrate, init, backup, restore, audit verify, purge,
rotate-outbox-key. Each command is one library call."""

from __future__ import annotations

import argparse
import getpass
import sys

from fieldapp.backup import BackupError
from fieldapp.db import DatabaseRefused
from fieldapp.settings import Settings


def _db(settings: Settings):
    from fieldapp.db import open_db
    return open_db(settings.db_path)


def _secret(settings: Settings) -> None:
    """The session secret beside the database (mode 0600), made on first start; two starts at once share one."""
    try:
        settings.secret("session_secret")
    except FileExistsError:
        settings.secret("session_secret")


def _outbox_keys(settings: Settings) -> None:
    """The outbox key pair beside the database (mode 0600), made on first start (fieldapp/offline/sealing.py)."""
    from fieldapp.offline import sealing
    sealing.load(settings.data_dir)


def _password(args, prompt: str = "Password: ") -> str:
    if args.password_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    return getpass.getpass(prompt)


# How `fieldapp serve` runs the app (README "Architecture", bench/README.md "Reconnect storm" for the measurements):
# ONE process with one event loop (uvloop, httptools), never several workers: SQLite takes one writer, and the
# app's writer thread (writer.py) is that one place; the login throttle's counts, the category caches and the
# background workers (push sender, POR feed, retention, catch-up) exist once per instance. Blocking work runs in
# threads beside the loop: sync batches in the writer thread, password checks and opening sealed records in
# worker threads. Keep-alive outlives any Retry-After the server gives, so a device coming back as told finds its
# connection still open instead of racing the server's close.
SERVER_OPTIONS = {
    "workers": 1,
    "loop": "uvloop",
    "http": "httptools",
    "backlog": 4096,  # a demonstration's devices reconnecting within a second must not find the queue full
    "timeout_keep_alive": 75,
    "timeout_graceful_shutdown": 10,  # then the lifespan's shutdown stops the workers (the writer commits first)
    "log_level": "warning",
    "access_log": False,
    "proxy_headers": True,
}


def cmd_serve(args, settings: Settings) -> None:
    import uvicorn
    from fieldapp.app import create_app
    from fieldapp.replica import ReplicaSupervisor
    _secret(settings)
    _outbox_keys(settings)
    app = create_app(settings)  # the database is checked (and created) before Litestream looks at it
    replica = ReplicaSupervisor(settings.db_path, settings.replica_url) if settings.replica_url else None
    if replica:
        replica.start()
        print(f"fieldapp: replicating to {settings.replica_url} (log {replica.log_path})", flush=True)
    print(f"fieldapp: open http://{args.host}:{args.port}/  (database {settings.db_path})", flush=True)
    try:
        uvicorn.run(app, host=args.host, port=args.port, **SERVER_OPTIONS)
    finally:
        if replica:
            replica.stop()


def cmd_backup(args, settings: Settings) -> None:
    from fieldapp import backup
    copied = backup.backup(settings.db_path, args.path)
    print(f"backup of {settings.db_path} written to {copied.path} ({copied.size} bytes, {copied.records} records, "
          "integrity check ok)")


def cmd_restore(args, settings: Settings) -> None:
    from fieldapp import backup
    if args.from_replica == bool(args.path):
        print("error: give either a backup file or --from-replica", file=sys.stderr)
        raise SystemExit(2)
    if args.from_replica:
        copied, kept = backup.restore_from_replica(settings.db_path, settings.replica_url)
    else:
        copied, kept = backup.restore(settings.db_path, args.path)
    print(f"restored {settings.db_path} ({copied.records} records, integrity check ok)"
          + (f"; the database it replaced is kept as {kept}" if kept else ""))


def cmd_demo(args, settings: Settings) -> None:
    from fieldapp import demo
    summary = demo.load(_db(settings))
    print(summary)


def cmd_migrate(args, settings: Settings) -> None:
    from fieldapp.migrations import migrations
    db = _db(settings)
    print("applied:", ", ".join(m.name for m in migrations.applied(db)))


def cmd_init(args, settings: Settings) -> None:
    _db(settings)
    _secret(settings)
    _outbox_keys(settings)
    print(f"database ready at {settings.db_path}; secrets in {settings.data_dir}")


def cmd_user_add(args, settings: Settings) -> None:
    from fieldapp import accounts
    db = _db(settings)
    password = _password(args)
    unit_id = accounts.ensure_unit(db, args.unit)
    try:
        user = accounts.create_user(db, args.username, password, args.role, unit_id, args.name or "")
    except accounts.AccountError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2)
    print(f"created {user.username} ({user.role}) in unit {args.unit}")


def cmd_unit_department(args, settings: Settings) -> None:
    from fieldapp import departments
    try:
        departments.place_unit(_db(settings), args.unit, args.department)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2)
    print(f"unit {args.unit} is in department {args.department}")


def cmd_user_password(args, settings: Settings) -> None:
    from fieldapp import accounts
    db = _db(settings)
    user = accounts.by_username(db, args.username)
    if user is None:
        print(f"error: no user {args.username!r}", file=sys.stderr)
        raise SystemExit(2)
    try:
        accounts.set_password(db, user.id, _password(args, "New password: "))
    except accounts.AccountError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2)
    print(f"password of {user.username} changed; their sessions ended")


def cmd_audit_verify(args, settings: Settings) -> None:
    from fieldapp import audit
    result = audit.verify(_db(settings))
    if not result.ok:
        print(f"audit log BROKEN at row {result.broken_id}: {result.reason} ({result.checked} rows before it "
              "verified)", file=sys.stderr)
        raise SystemExit(1)
    print(f"audit log intact: {result.checked} rows from id {result.first_id} to {result.head_id}; "
          f"newest hash {result.head_hash or '-'}")


def cmd_purge(args, settings: Settings) -> None:
    from fieldapp import retention
    receipt = retention.purge(_db(settings), retention.Periods.from_settings(settings))
    print(retention.summary(receipt))


def cmd_rotate_outbox_key(args, settings: Settings) -> None:
    from fieldapp.offline import sealing
    ring = sealing.rotate(settings.data_dir)
    print(f"new outbox key {ring.current.kid} in {sealing.key_path(settings.data_dir)}; devices seal to it from their "
          f"next sync; {len(ring.keys) - 1} older key(s) kept to open what devices sealed before")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fieldapp", description="Field app for preventive police work")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the web app")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(func=cmd_serve)
    sub.add_parser("demo", help="create or refresh the synthetic demo data").set_defaults(func=cmd_demo)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)
    sub.add_parser("init", help="create the database and secrets").set_defaults(func=cmd_init)
    backup = sub.add_parser("backup", help="write a checked copy of the live database (safe while serving)")
    backup.add_argument("path")
    backup.set_defaults(func=cmd_backup)
    restore = sub.add_parser("restore", help="replace the database by a backup or the replica's latest state "
                                             "(stop the server first; the old file is kept aside)")
    restore.add_argument("path", nargs="?")
    restore.add_argument("--from-replica", action="store_true", help="restore from FIELDAPP_REPLICA_URL")
    restore.set_defaults(func=cmd_restore)
    user = sub.add_parser("user", help="manage users")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    add = user_sub.add_parser("add", help="create a user (password asked, or read from stdin)")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=["officer", "staff", "lead", "admin", "department"])
    add.add_argument("--unit", default="Helsinki preventive unit")
    add.add_argument("--name", default="")
    add.add_argument("--password-stdin", action="store_true")
    add.set_defaults(func=cmd_user_add)
    password = user_sub.add_parser("password", help="set a user's password (asked, or read from stdin); ends their sessions")
    password.add_argument("username")
    password.add_argument("--password-stdin", action="store_true")
    password.set_defaults(func=cmd_user_password)
    unit = sub.add_parser("unit", help="manage units")
    unit_sub = unit.add_subparsers(dest="unit_command", required=True)
    place = unit_sub.add_parser("department", help="put a unit in a police department (each made when missing)")
    place.add_argument("unit")
    place.add_argument("department")
    place.set_defaults(func=cmd_unit_department)
    audit = sub.add_parser("audit", help="the access log")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    audit_sub.add_parser("verify", help="check the audit log's hash chain; names the first broken row (exit 1)"
                         ).set_defaults(func=cmd_audit_verify)
    sub.add_parser("rotate-outbox-key", help="make a new key for sealing device outboxes (older keys are kept)") \
        .set_defaults(func=cmd_rotate_outbox_key)
    sub.add_parser("purge", help="delete what is past its retention period; the receipt goes to the audit log"
                   ).set_defaults(func=cmd_purge)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        args.func(args, Settings.from_env())
    except (DatabaseRefused, BackupError) as exc:  # a clear message and exit code, not a traceback
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
