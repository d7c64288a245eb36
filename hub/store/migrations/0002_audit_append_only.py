"""Make the audit log append-only in the database itself, not only in the ORM.

A raw ``UPDATE`` or ``DELETE`` (a script, a console session, a bug) is refused by a trigger, so the log can be
trusted as evidence of who sent an emergency message or changed a consent.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops

SQLITE = [
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
]
SQLITE_REVERSE = ["DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete"]

POSTGRES = [
    "CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'the audit log is append-only'; END; $$ LANGUAGE plpgsql",
    "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
]
POSTGRES_REVERSE = [
    "DROP TRIGGER audit_log_append_only ON audit_log",
    "DROP FUNCTION audit_log_append_only()",
]


async def _run(schema_editor, statements_by_dialect) -> None:
    dialect = schema_editor.client.capabilities.dialect
    for sql in statements_by_dialect[dialect]:
        await schema_editor.client.execute_query(sql)


async def forward(apps, schema_editor) -> None:
    await _run(schema_editor, {"sqlite": SQLITE, "postgres": POSTGRES})


async def backward(apps, schema_editor) -> None:
    await _run(schema_editor, {"sqlite": SQLITE_REVERSE, "postgres": POSTGRES_REVERSE})


class Migration(migrations.Migration):
    dependencies = [("models", "0001_initial")]

    operations = [ops.RunPython(forward, backward)]
