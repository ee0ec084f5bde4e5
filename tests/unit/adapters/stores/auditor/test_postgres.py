"""The PostgreSQL driver without a database (tests/integration/test_audit_store_pg.py has one)."""

from __future__ import annotations

from broker.adapters.stores.auditor.postgres import PostgreSQL, is_url, redact_url


def test_a_url_names_postgres_and_anything_else_a_sqlite_file() -> None:
    assert is_url("postgresql://broker@127.0.0.1/broker")
    assert is_url("postgres://broker@127.0.0.1/broker")
    assert not is_url("var/audit.sqlite")
    assert not is_url("postgresql.sqlite")


def test_the_password_is_left_out_of_the_url_shown() -> None:
    assert redact_url("postgresql://kari:s3cr:et@db.example:5432/audit") == (
        "postgresql://kari@db.example:5432/audit"
    )
    assert redact_url("postgresql://kari@db/audit") == "postgresql://kari@db/audit"
    assert redact_url("postgresql:///audit") == "postgresql:///audit"


def test_sqlite_marks_become_psycopg_marks() -> None:
    driver = PostgreSQL(None, "postgresql:///audit")
    assert driver.sql("SELECT a FROM t WHERE b = ? AND c = ?") == (
        "SELECT a FROM t WHERE b = %s AND c = %s"
    )
    assert driver.blob == "BYTEA"
