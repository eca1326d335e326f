"""The first wall around tenant SQL: parse a dataset's or assertion's query with sqlglot, in the
source's dialect, and refuse anything but one read-only query (SELECT, WITH … SELECT, VALUES,
set operations of those).

Refused: several statements; any other statement (SET, SET STATEMENT … FOR, DDL, DML, CALL, DO,
HANDLER, LOAD, COPY, EXPLAIN, …); data-modifying WITH; locking reads (FOR UPDATE/SHARE, LOCK IN
SHARE MODE); SELECT … INTO (tables, variables, INTO OUTFILE/DUMPFILE); NEXT VALUE FOR; functions
with side effects (FUNCTIONS, per dialect); optimizer hints (/*+ … */, which can set session
variables); MySQL's executable comments (/*! … */, /*M! … */, which MySQL runs); PostgreSQL's
Unicode-escaped names (U&"…"); and whatever sqlglot cannot parse (fail closed).

This is a parser's view of the text, not the server's: the read-only transaction, the server's
timeouts, the out-of-band cancel (query.py) and a read-only database user stay behind it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.tokens import Token, TokenType

from bulletin.api.errors import SourceError

ONE_QUERY = "a report query is one read-only statement: SELECT, WITH … SELECT or VALUES"

# SQLAlchemy backend name -> sqlglot dialect; other databases get sqlglot's generic parser.
DIALECTS = {"postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql", "sqlite": "sqlite"}

# Functions with side effects (writes, locks, settings, files, other sessions, dynamic SQL).
# Names are matched case-insensitively, schema or not; a trailing "*" matches a prefix.
FUNCTIONS: dict[str | None, frozenset[str]] = {
    "postgres": frozenset({
        "set_config", "nextval", "setval", "pg_terminate_backend", "pg_cancel_backend",
        "pg_reload_conf", "pg_rotate_logfile", "pg_read_*", "pg_ls_*", "pg_stat_file",
        "pg_file_*", "lo_*", "loread", "lowrite", "dblink*", "pg_advisory*",
        "pg_try_advisory*", "pg_notify", "txid_current*", "pg_current_xact_id*",
        "query_to_xml*", "cursor_to_xml*", "ts_stat", "ts_rewrite", "pg_switch_wal",
        "pg_promote", "pg_create_*", "pg_drop_replication_slot", "pg_replication_*",
        "pg_logical_*", "pg_wal_replay_*", "pg_backup_*", "pg_start_backup", "pg_stop_backup",
        "pg_export_snapshot", "pg_log_backend_memory_contexts", "pg_import_system_collations",
        "pg_stat_reset*"}),
    "mysql": frozenset({
        "get_lock", "release_lock", "release_all_locks", "load_file", "benchmark",
        "sys_exec", "sys_eval", "sys_get", "sys_set", "master_pos_wait", "source_pos_wait",
        "master_gtid_wait", "wait_for_executed_gtid_set", "nextval", "setval"}),
    "sqlite": frozenset({"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"}),
}
FUNCTIONS[None] = frozenset().union(*FUNCTIONS.values())

_STARTS = {TokenType.SELECT, TokenType.WITH, TokenType.VALUES, TokenType.TABLE, TokenType.L_PAREN}
_LITERALS = {getattr(TokenType, name) for name in TokenType.__members__
             if name == "STRING" or name.endswith("_STRING")}
_ROOTS = (exp.Select, exp.SetOperation, exp.Values, exp.Subquery)
# Nodes no read-only query holds; the label says what was refused.
_NODES: dict[type[exp.Expr], str] = {
    exp.Insert: "INSERT", exp.Update: "UPDATE", exp.Delete: "DELETE", exp.Merge: "MERGE",
    exp.Copy: "COPY", exp.Create: "CREATE", exp.DDL: "DDL", exp.Drop: "DROP", exp.Alter: "ALTER",
    exp.TruncateTable: "TRUNCATE", exp.Command: "a statement", exp.Set: "SET",
    exp.Transaction: "a transaction statement", exp.Commit: "COMMIT", exp.Rollback: "ROLLBACK",
    exp.Pragma: "PRAGMA", exp.Use: "USE", exp.Kill: "KILL", exp.Grant: "GRANT",
    exp.Revoke: "REVOKE", exp.LoadData: "LOAD DATA", exp.Into: "SELECT … INTO",
    exp.NextValueFor: "NEXT VALUE FOR",
    exp.Execute: "EXECUTE", exp.Attach: "ATTACH", exp.Detach: "DETACH",
}
_MYSQL_COMMENT = re.compile(r"/\*M?!", re.IGNORECASE)
_HINT = "hints can change session settings such as the timeout"


class UnsafeQuery(SourceError, ValueError):
    """The query is not one read-only statement; the message says what was refused."""


def check(sql: str, backend: str) -> None:
    """UnsafeQuery unless ``sql`` is one read-only query in ``backend``'s dialect (SQLAlchemy's
    backend name: postgresql, mysql, mariadb, sqlite, or another for the generic parser)."""
    dialect = DIALECTS.get(backend)
    try:
        tokens = Dialect.get_or_raise(dialect).tokenize(sql)
    except Exception as exc:  # sqlglot's TokenError, or a tokenizer bug: fail closed
        raise _unreadable(dialect, exc) from exc
    _check_gaps(sql, tokens, dialect)
    statement = _one_statement(tokens)
    _check_tokens(statement, dialect)
    try:
        parsed = [e for e in sqlglot.parse(sql, read=dialect)
                  if e is not None and not isinstance(e, exp.Semicolon)]
    except Exception as exc:  # sqlglot's ParseError, or a parser bug: fail closed
        raise _unreadable(dialect, exc) from exc
    if len(parsed) != 1:
        raise _refuse(f"{len(parsed)} statements")
    _check_tree(parsed[0])


def _refuse(what: str, reason: str | None = None) -> UnsafeQuery:
    return UnsafeQuery(f"refused {what} ({f'{reason}; ' if reason else ''}{ONE_QUERY})")


def _unreadable(dialect: str | None, exc: Exception) -> UnsafeQuery:
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return _refuse("a query Bulletin cannot parse", f"{dialect or 'generic'} dialect: {first}")


def _check_gaps(sql: str, tokens: Sequence[Token], dialect: str | None) -> None:
    """Comments live between tokens: refuse optimizer hints, and MySQL's executable comments
    (a comment to the parser, statement text to MySQL)."""
    ends = [-1] + [t.end for t in tokens]
    starts = [t.start for t in tokens] + [len(sql)]
    for end, start in zip(ends, starts, strict=True):
        gap = sql[end + 1:start]
        if "/*+" in gap:
            raise _refuse("an optimizer hint /*+ … */", _HINT)
        if dialect == "mysql" and _MYSQL_COMMENT.search(gap):
            raise _refuse("an executable comment /*! … */", "MySQL runs what it holds")


def _one_statement(tokens: Sequence[Token]) -> list[Token]:
    """The tokens of the only statement; UnsafeQuery for none, several, or one not a query."""
    statements: list[list[Token]] = [[]]
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            statements.append([])
        else:
            statements[-1].append(token)
    statements = [s for s in statements if s]
    if len(statements) != 1:
        raise _refuse(f"{len(statements)} statements")
    statement = statements[0]
    if statement[0].token_type not in _STARTS:
        raise _refuse(_leading(statement))
    return statement


def _leading(statement: Sequence[Token]) -> str:
    """The statement's kind in its own words: SET STATEMENT, CREATE TABLE, DO, CALL, ..."""
    words = [t.text.upper() for t in statement[:2]]
    if words[0] in ("CREATE", "DROP", "ALTER", "LOAD") and len(words) > 1:
        return " ".join(words)
    if words[:2] == ["SET", "STATEMENT"]:
        return "SET STATEMENT"
    return words[0]


def _check_tokens(statement: Sequence[Token], dialect: str | None) -> None:
    """Calls of functions with side effects, INTO, NEXT VALUE FOR and U&"…" identifiers."""
    denied = FUNCTIONS[dialect]
    for i, token in enumerate(statement):
        if token.token_type in _LITERALS:
            continue
        after = statement[i + 1:i + 3]
        following = [t.text.upper() for t in after]
        if after and after[0].token_type == TokenType.L_PAREN and _denied(token.text, denied):
            raise _refuse(f"{token.text}()", "a function with side effects: writes, locks,"
                          " settings, files or other sessions")
        if token.token_type == TokenType.INTO and (
                i == 0 or statement[i - 1].text.upper() not in ("INSERT", "MERGE")):
            target = following[0] if following else ""
            what = f"INTO {target}" if target in ("OUTFILE", "DUMPFILE") else "SELECT … INTO"
            raise _refuse(what, "a report query writes nothing")
        if token.text.upper() == "NEXT" and following == ["VALUE", "FOR"]:
            raise _refuse("NEXT VALUE FOR", "it advances a sequence")
        if (dialect == "postgres" and token.text.upper() == "U" and following[:1] == ["&"]
                and token.end + 1 == after[0].start):  # U&"…": sqlglot reads U & "…"
            raise _refuse('a Unicode-escaped name U&"…"', "the parser cannot read it")


def _denied(name: str, denied: frozenset[str]) -> bool:
    lowered = name.lower()
    return lowered in denied or any(
        d.endswith("*") and lowered.startswith(d[:-1]) for d in denied)


def _check_tree(root: exp.Expr) -> None:
    """The parsed statement is a query, and holds no write, lock or setting anywhere."""
    if not isinstance(root, _ROOTS):
        raise _refuse(root.key.upper())
    for node in root.walk():
        if isinstance(node, exp.Lock):
            raise _refuse("FOR UPDATE" if node.args.get("update") else "FOR SHARE",
                          "a locking read")
        if isinstance(node, exp.Hint):
            raise _refuse("an optimizer hint /*+ … */", _HINT)
        for kind, label in _NODES.items():
            if isinstance(node, kind):
                raise _refuse(f"{label} inside the query", "a report query writes nothing")
