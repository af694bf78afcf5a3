"""A static check of onecode's SQL against the restrictions Citus puts on distributed
tables, so that a statement Citus would refuse fails a test here, where no Citus runs.

Every named query (``sql/queries/``) and every statement inside the rule files'
functions (``sql/functions/``, PL/pgSQL bodies parsed with libpg_query through
``pglast``) is parsed and judged against the rules in :data:`RULES`, given the table
classification of ``tests/integration/test_citus_ready.py`` and the volatility of each
function as the migrated database's ``pg_proc`` records it.

This is a model of Citus's planner, not Citus: it catches the classes of statement that
the real cluster refused in review, and says so in docs; a real-cluster run stays the proof.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pglast import ast, parse_plpgsql, parse_sql
from pglast.enums import SetOperation
from pglast.visitors import Visitor

from onecode.sql import parse_queries, sql_root

DOCS = "https://docs.citusdata.com/en/stable/develop/reference_workarounds.html"
ROUTER = "https://docs.citusdata.com/en/stable/develop/reference_processing.html"
COLOCATION = "https://docs.citusdata.com/en/stable/sharding/data_modeling.html"
DML = "https://docs.citusdata.com/en/stable/develop/reference_dml.html"

# rule id -> (what Citus does, where it is written down)
RULES: dict[str, tuple[str, str]] = {
    "returning-mutable": (
        "a modification of a distributed table may not call a non-IMMUTABLE function in "
        "RETURNING ('non-IMMUTABLE functions are not allowed in the RETURNING clause'); "
        "return plain columns and build values afterwards",
        ROUTER,
    ),
    "case-coalesce-mutable": (
        "a modification of a distributed table may not put a non-IMMUTABLE function inside "
        "CASE or COALESCE ('non-IMMUTABLE functions are not allowed in CASE or COALESCE "
        "statements'); pass the value in as a parameter",
        ROUTER,
    ),
    "update-volatile": (
        "functions used in UPDATE queries on distributed tables must not be VOLATILE",
        DOCS,
    ),
    "update-stable-column": (
        "STABLE functions (and operators, e.g. timestamptz + interval) used in UPDATE "
        "queries cannot be called with column references",
        DOCS,
    ),
    "grouping-sets": ("grouping sets work in single-shard queries only", DOCS),
    "join-not-colocated": (
        "distributed tables join only when co-located and joined on their distribution "
        "columns (otherwise 'the query contains a join that requires repartitioning' or "
        "'complex joins are only supported when all distributed tables are co-located')",
        COLOCATION,
    ),
    "lateral-function-join": (
        "a distributed table joined through LATERAL to a set-returning function "
        "('complex joins are only supported when all distributed tables are co-located "
        "and joined on their distribution columns')",
        DOCS,
    ),
    "insert-select-function-join": (
        "INSERT … SELECT into a distributed table whose SELECT joins a distributed table "
        "with a set-returning function is planned through the coordinator; on the review "
        "cluster it failed ('insufficient data left in message'); split it into co-located "
        "statements",
        DOCS,
    ),
    "modify-join-not-colocated": (
        "an UPDATE or DELETE of a distributed table that reads another distributed table "
        "(USING, FROM or a subquery) runs on the workers only when that table is co-located "
        "with the target and tied to it by the target's distribution column ('complex joins "
        "are only supported when all distributed tables are co-located and joined on their "
        "distribution columns')",
        DOCS,
    ),
    "insert-select-window": (
        "an INSERT … SELECT into a distributed table whose window function is not "
        "partitioned by the distribution column of the tables it reads can be neither "
        "pushed down nor repartitioned: every row goes through the coordinator; partition "
        "by the distribution column (or filter each table to one value of it)",
        DML,
    ),
    "for-update-multi-shard": ("SELECT … FOR UPDATE works in single-shard queries only", DOCS),
    "hot-multi-shard": (
        "a hot-path statement (gate scan, booking, token lookup), or any statement on a "
        "table of ROUTED_TABLES (credentials), that does not filter a distributed table by "
        "its distribution column fans out to every shard",
        ROUTER,
    ),
}

# Statements on the hot path: a fan-out there is a defect, elsewhere it is analytics.
HOT_FUNCTIONS = frozenset({"gate_scan", "onecode_book_slot"})
HOT_QUERY = re.compile(r"^(gates_decide_scan|auth_select_principal|bookings_insert_booking)$")

# Tables every statement must reach through their distribution column, hot path or not
# (issue #22): a traveller's credentials and the gate's cred_id lookup. A statement that
# reads them across shards by design is named in FAN_OUT, with why.
ROUTED_TABLES = frozenset({"credentials", "credential_ids"})
FAN_OUT: dict[str, str] = {
    "queries/offline.sql:offline_select_entitlements": (
        "the gate pack: a venue's bookings of two days with their travellers' credentials, "
        "a co-located join run on every shard in parallel once per pack sync, not per scan"
    ),
    "queries/offline.sql:offline_select_revocations": (
        "the gate pack's revocations: every revoked credential whose code has not expired, "
        "changed since the gate's cursor; any traveller may walk up to any gate"
    ),
}


@dataclass(frozen=True, order=True)
class Finding:
    where: str  # "queries/gates.sql:gates_scan" or "functions/gates.sql:gate_scan#3"
    rule: str
    detail: str = field(compare=False, default="")


@dataclass(frozen=True)
class Layout:
    """Which tables are distributed (by which column, in which group) or reference."""

    distributed: dict[str, tuple[str, str]]
    reference: frozenset[str]
    columns: dict[str, dict[str, str]]  # table -> column -> type
    # name -> [(argument types, 'i' | 's' | 'v')] for every overload (format_type names)
    volatility: dict[str, list[tuple[tuple[str, ...], str]]]


@dataclass(frozen=True)
class Statement:
    where: str
    sql: str
    hot: bool
    variables: frozenset[str] = frozenset()


# ------------------------------------------------------------------------------------
# Where the statements are
# ------------------------------------------------------------------------------------


def _plpgsql_queries(tree: Any) -> Iterator[str]:
    if isinstance(tree, dict):
        for key, value in tree.items():
            if key == "PLpgSQL_expr" and isinstance(value, dict) and "query" in value:
                yield str(value["query"])
            yield from _plpgsql_queries(value)
    elif isinstance(tree, list):
        for item in tree:
            yield from _plpgsql_queries(item)


def _plpgsql_variables(tree: Any) -> Iterator[str]:
    if isinstance(tree, dict):
        for key, value in tree.items():
            if key in ("PLpgSQL_var", "PLpgSQL_rec", "PLpgSQL_row") and isinstance(value, dict):
                name = value.get("refname")
                if name:
                    yield str(name)
            yield from _plpgsql_variables(value)
    elif isinstance(tree, list):
        for item in tree:
            yield from _plpgsql_variables(item)


def _as_statement(text: str) -> str | None:
    """A PL/pgSQL expression as a parsable statement: SQL as is, `x := e` as SELECT e."""
    text = text.strip()
    if re.match(r"(?is)^(SELECT|INSERT|UPDATE|DELETE|WITH|VALUES)\b", text):
        return text
    assign = re.match(r"(?s)^[A-Za-z_][A-Za-z0-9_.]*(\[[^\]]*\])?\s*:=\s*(.*)$", text)
    return "SELECT " + (assign.group(2) if assign else text)


def statements(root: Path | None = None) -> list[Statement]:
    """Every named query and every statement of every rule-file function."""
    root = root or sql_root()
    found: list[Statement] = []
    for path in sorted((root / "queries").glob("*.sql")):
        for name, body in parse_queries(path.read_text(encoding="utf-8"), str(path)).items():
            found.append(
                Statement(f"queries/{path.name}:{name}", body, bool(HOT_QUERY.match(name)))
            )
    functions = root / "functions"
    for path in sorted(functions.glob("*.sql")) if functions.is_dir() else []:
        source_text = path.read_text(encoding="utf-8")
        source_bytes = source_text.encode()
        for raw in parse_sql(source_text):
            stmt = raw.stmt
            if not isinstance(stmt, ast.CreateFunctionStmt):
                continue
            name = stmt.funcname[-1].sval
            language = next(
                (o.arg.sval for o in stmt.options or () if o.defname == "language"), "sql"
            )
            body = next(o.arg for o in stmt.options or () if o.defname == "as")
            text = body[0].sval if isinstance(body, tuple) else body.sval
            where = f"functions/{path.name}:{name}"
            hot = name in HOT_FUNCTIONS
            if language == "plpgsql":
                start = raw.stmt_location or 0
                end = start + raw.stmt_len if raw.stmt_len else len(source_bytes)
                tree = parse_plpgsql(source_bytes[start:end].decode() + ";")
                variables = frozenset(v.lower() for v in _plpgsql_variables(tree))
                for i, query in enumerate(_plpgsql_queries(tree)):
                    sql = _as_statement(query)
                    if sql is not None:
                        found.append(Statement(f"{where}#{i}", sql, hot, variables))
            else:
                params = frozenset(
                    p.name.lower() for p in stmt.parameters or () if getattr(p, "name", None)
                )
                for i, part in enumerate(parse_sql(text)):
                    found.append(Statement(f"{where}#{i}", _deparse(part.stmt), hot, params))
    return found


def _deparse(node: Any) -> str:
    from pglast.stream import RawStream

    return str(RawStream()(node))


# ------------------------------------------------------------------------------------
# Judging one statement
# ------------------------------------------------------------------------------------


class _Collect(Visitor):
    def __init__(self, kinds: tuple[type, ...]) -> None:
        super().__init__()
        self.kinds = kinds
        self.found: list[Any] = []

    def visit(self, ancestors: Any, node: Any) -> None:
        if isinstance(node, self.kinds):
            self.found.append(node)


def _all(node: Any, *kinds: type) -> list[Any]:
    if node is None:
        return []
    c = _Collect(kinds)
    c(node)
    return c.found


def _func_name(call: Any) -> str:
    return str(call.funcname[-1].sval).lower()


class _Judge:
    def __init__(self, layout: Layout, stmt: Statement) -> None:
        self.layout = layout
        self.stmt = stmt
        self.findings: list[Finding] = []
        self._aliases: dict[str, str] = {}

    def add(self, rule: str, detail: str) -> None:
        self.findings.append(Finding(self.stmt.where, rule, detail))

    # -- names -------------------------------------------------------------------------
    def _tables(self, node: Any) -> dict[str, str]:
        """alias (or name) -> table, for every RangeVar below node."""
        out: dict[str, str] = {}
        for rv in _all(node, ast.RangeVar):
            table = str(rv.relname).lower()
            out[(rv.alias.aliasname if rv.alias else table).lower()] = table
            out.setdefault(table, table)
        return out

    def _column(self, ref: Any, aliases: dict[str, str]) -> tuple[str, str] | None:
        """(table, column) a column reference names, or None (variable, parameter, star)."""
        names = [getattr(f, "sval", None) for f in ref.fields]
        if any(n is None for n in names):
            return None
        parts = [str(n).lower() for n in names]
        if len(parts) == 1:
            (col,) = parts
            if col in self.stmt.variables:
                return None
            owners = {t for t in aliases.values() if col in self.layout.columns.get(t, {})}
            return (owners.pop(), col) if len(owners) == 1 else None
        alias, col = parts[-2], parts[-1]
        table = aliases.get(alias)
        if table is None:
            return None  # a record variable's field (v_slot.venue_id)
        return (table, col)

    def _type(self, node: Any) -> str | None:
        """The SQL type of an expression where it is cheap to know, else None."""
        if isinstance(node, ast.ColumnRef):
            aliases = self._aliases
            named = self._column(node, aliases)
            return self.layout.columns.get(named[0], {}).get(named[1]) if named else None
        if isinstance(node, ast.TypeCast):
            name = str(node.typeName.names[-1].sval)
            return {
                "timestamptz": "timestamp with time zone",
                "timestamp": "timestamp without time zone",
                "date": "date",
                "interval": "interval",
                "text": "text",
            }.get(name, name)
        if isinstance(node, ast.FuncCall) and _func_name(node) == "timezone" and node.args:
            inner = self._type(node.args[-1])
            if inner == "timestamp with time zone":
                return "timestamp without time zone"
            if inner == "timestamp without time zone":
                return "timestamp with time zone"
        if isinstance(node, ast.FuncCall) and _func_name(node) == "date_trunc" and node.args:
            return self._type(node.args[1]) if len(node.args) > 1 else None
        return None

    def _volatility(self, call: Any) -> str:
        """The worst volatility among the overloads this call can resolve to: same
        arity (or variadic), and the argument types where they are known."""
        rank = {"i": 0, "s": 1, "v": 2}
        args = tuple(call.args or ())
        overloads = self.layout.volatility.get(_func_name(call), [])
        same = [(t, v) for t, v in overloads if len(t) == len(args)] or overloads
        known = [self._type(a) for a in args]
        fitting = [
            v
            for types, v in same
            if len(types) != len(args)
            or all(
                k is None or k == t or t in ("anyelement", '"any"')
                for k, t in zip(known, types, strict=True)
            )
        ]
        return max(fitting or [v for _, v in same], key=rank.__getitem__, default="i")

    def _mutable_calls(self, node: Any) -> list[str]:
        calls = [c for c in _all(node, ast.FuncCall) if self._volatility(c) != "i"]
        names = [_func_name(c) for c in calls]
        names += ["current_timestamp" for _ in _all(node, ast.SQLValueFunction)]
        return names

    def _distributed(self, table: str) -> bool:
        return table in self.layout.distributed

    def _hot(self, table: str) -> bool:
        """Whether a statement must reach this table through its distribution column."""
        return self.stmt.hot or (table in ROUTED_TABLES and self.stmt.where not in FAN_OUT)

    def _dist_filtered(
        self, where: Any, alias: str, table: str, aliases: dict[str, str], many: bool = True
    ) -> bool:
        """The table's distribution column equals a value (a parameter, a variable, an
        outer row's column), or is one of an array's values (``= ANY``: Citus prunes to
        the shards of those values). An equality with a column of the same FROM is a
        join, which routes nothing by itself."""
        column = self.layout.distributed[table][0]
        for expr in _all(where, ast.A_Expr):
            kinds = ("AEXPR_OP", "AEXPR_OP_ANY") if many else ("AEXPR_OP",)
            if expr.kind.name not in kinds or expr.name[-1].sval != "=":
                continue
            pairs = [(expr.lexpr, expr.rexpr)]
            if expr.kind.name == "AEXPR_OP":
                pairs.append((expr.rexpr, expr.lexpr))
            for side, other in pairs:
                if isinstance(side, ast.ColumnRef):
                    named = self._column(side, aliases)
                    fields = [getattr(f, "sval", "") for f in side.fields]
                    qualifier = fields[0].lower() if len(fields) == 2 else None
                    joined = isinstance(other, ast.ColumnRef) and (
                        self._column(other, aliases) is not None
                    )
                    if named == (table, column) and qualifier in (None, alias) and not joined:
                        return True
        return False

    # -- rules -------------------------------------------------------------------------
    def judge(self) -> list[Finding]:
        try:
            tree = parse_sql(self.stmt.sql)
        except Exception as exc:  # a statement the parser cannot read is itself a finding
            self.add("unparsable", str(exc))
            return self.findings
        for raw in tree:
            self._aliases = self._tables(raw.stmt)
            self._judge(raw.stmt)
        return self.findings

    def _judge(self, node: Any) -> None:
        for sub in _all(node, ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt):
            self._modification(sub)
        for select in _all(node, ast.SelectStmt):
            self._select(select)

    def _modification(self, node: Any) -> None:
        table = str(node.relation.relname).lower()
        if not self._distributed(table):
            return
        if isinstance(node, ast.InsertStmt) and isinstance(node.selectStmt, ast.SelectStmt):
            source = tuple(node.selectStmt.fromClause or ())
            has_function = bool(_all(source, ast.RangeFunction))
            joined = [str(rv.relname).lower() for rv in _direct_relations(source)]
            if has_function and any(self._distributed(t) for t in joined):
                self.add("insert-select-function-join", f"{table} <- {sorted(set(joined))}")
        aliases = self._tables(node)
        if isinstance(node, ast.InsertStmt) and isinstance(node.selectStmt, ast.SelectStmt):
            self._insert_select_window(node.selectStmt)
        if isinstance(node, (ast.UpdateStmt, ast.DeleteStmt)):
            self._modify_join(node, table)
        returning = node.returningClause.exprs if node.returningClause else None
        if returning:
            mutable = self._mutable_calls(returning)
            if mutable:
                self.add("returning-mutable", f"{table}: {sorted(set(mutable))}")
        values: list[Any] = []
        if isinstance(node, ast.UpdateStmt):
            values = list(node.targetList or ())
        elif isinstance(node, ast.InsertStmt) and node.onConflictClause is not None:
            values = list(node.onConflictClause.targetList or ())
        if isinstance(node, ast.InsertStmt) and node.selectStmt is not None:
            values += list(getattr(node.selectStmt, "valuesLists", None) or ())
        for expr in _all(tuple(values), ast.CoalesceExpr, ast.CaseExpr):
            mutable = self._mutable_calls(expr)
            if mutable:
                self.add("case-coalesce-mutable", f"{table}: {sorted(set(mutable))}")
        if isinstance(node, ast.UpdateStmt):
            scope = (tuple(node.targetList or ()), node.whereClause)
            for call in _all(scope, ast.FuncCall):
                vol = self._volatility(call)
                if vol == "v":
                    self.add("update-volatile", f"{table}: {_func_name(call)}()")
                elif vol == "s" and any(
                    self._column(r, aliases) for r in _all(call.args, ast.ColumnRef)
                ):
                    self.add("update-stable-column", f"{table}: {_func_name(call)}(column)")
            for expr in _all(scope, ast.A_Expr):
                if self._stable_time_arithmetic(expr, aliases):
                    self.add("update-stable-column", f"{table}: timestamptz ± interval")
            if self._hot(table) and not self._dist_filtered(
                node.whereClause, _alias_of(node.relation), table, aliases
            ):
                self.add("hot-multi-shard", f"UPDATE {table}")
        if (
            isinstance(node, ast.DeleteStmt)
            and self._hot(table)
            and not self._dist_filtered(node.whereClause, _alias_of(node.relation), table, aliases)
        ):
            self.add("hot-multi-shard", f"DELETE {table}")

    def _insert_select_window(self, select: Any) -> None:
        """Window functions of an INSERT … SELECT: each partitioned by a distribution
        column of the distributed tables read (by name: a subquery's output column keeps
        it), unless every one of those tables is filtered to one value (one shard)."""
        aliases = self._tables(select)
        sources = {t for t in aliases.values() if self._distributed(t)}
        if not sources:
            return
        if all(
            self._dist_filtered(select, a, t, aliases, many=False)
            for rv in _all(select, ast.RangeVar)
            for a, t in [(_alias_of(rv), str(rv.relname).lower())]
            if self._distributed(t)
        ):
            return
        columns = {self.layout.distributed[t][0] for t in sources}
        # WINDOW clauses (name -> definition); `OVER w` and `(w ORDER BY …)` refer to them
        named = {
            str(w.name): w
            for sub in _all(select, ast.SelectStmt)
            for w in sub.windowClause or ()
            if w.name
        }

        def partition(w: Any, seen: frozenset[str] = frozenset()) -> tuple[Any, ...]:
            if w.partitionClause:
                return tuple(w.partitionClause)
            ref = w.refname or w.name
            if ref in named and ref not in seen:
                return partition(named[ref], seen | {ref})
            return ()

        for call in _all(select, ast.FuncCall):
            if call.over is None:
                continue
            parts = partition(call.over)
            names = {
                str(getattr(r.fields[-1], "sval", "")).lower() for r in _all(parts, ast.ColumnRef)
            }
            if not names & columns:
                self.add("insert-select-window", f"{_func_name(call)}() not by {sorted(columns)}")

    def _modify_join(self, node: Any, table: str) -> None:
        """An UPDATE/DELETE that reads other distributed tables: same co-location group,
        and the target's distribution column equal to a column of what it reads."""
        scope = (
            tuple(getattr(node, "usingClause", None) or ()),
            tuple(getattr(node, "fromClause", None) or ()),
            node.whereClause,
        )
        read = {str(rv.relname).lower() for rv in _all(scope, ast.RangeVar)}
        others = sorted(t for t in read if self._distributed(t))
        if not others:
            return
        column, group = self.layout.distributed[table]
        far = [t for t in others if self.layout.distributed[t][1] != group]
        if far:
            self.add("modify-join-not-colocated", f"{table} with {far}")
            return
        alias = _alias_of(node.relation)
        for expr in _all(scope, ast.A_Expr):
            if expr.kind.name != "AEXPR_OP" or expr.name[-1].sval != "=":
                continue
            sides = (expr.lexpr, expr.rexpr)
            if not all(isinstance(x, ast.ColumnRef) for x in sides):
                continue
            fields = [[str(getattr(f, "sval", "")).lower() for f in x.fields] for x in sides]
            target = [f for f in fields if f in ([alias, column], [column])]
            other = [f for f in fields if f[:1] != [alias] and f != [column]]
            if target and other and other[0][-1] == self.layout.distributed[others[0]][0]:
                return
        self.add("modify-join-not-colocated", f"{table} not tied by {column} to {others}")

    def _stable_time_arithmetic(self, expr: Any, aliases: dict[str, str]) -> bool:
        if expr.kind.name != "AEXPR_OP" or expr.name[-1].sval not in ("+", "-"):
            return False
        sides = (expr.lexpr, expr.rexpr)
        has_tz_column = False
        for side in sides:
            if isinstance(side, ast.ColumnRef):
                named = self._column(side, aliases)
                if named and self.layout.columns.get(named[0], {}).get(named[1]) == (
                    "timestamp with time zone"
                ):
                    has_tz_column = True
        interval = any(
            (isinstance(s, ast.FuncCall) and _func_name(s) == "make_interval")
            or (isinstance(s, ast.TypeCast) and s.typeName.names[-1].sval == "interval")
            for s in sides
        )
        return has_tz_column and interval

    def _select(self, node: Any) -> None:
        if node.op != SetOperation.SETOP_NONE:
            return
        from_items = tuple(node.fromClause or ())
        own = [rv for rv in _direct_relations(from_items)]
        aliases = self._tables(from_items)
        functions = [f for f in from_items if isinstance(f, ast.RangeFunction)]
        functions += [
            f
            for j in _all(from_items, ast.JoinExpr)
            for f in (j.larg, j.rarg)
            if isinstance(f, ast.RangeFunction)
        ]
        laterals = [s for s in _all(from_items, ast.RangeSubselect) if s.lateral]
        lateral_tables = {str(rv.relname).lower() for s in laterals for rv in _all(s, ast.RangeVar)}
        if functions and any(self._distributed(t) for t in lateral_tables):
            self.add("lateral-function-join", ", ".join(sorted(lateral_tables)))
        dist = [(_alias_of(rv), str(rv.relname).lower()) for rv in own]
        dist = [(a, t) for a, t in dist if self._distributed(t)]
        if not dist:
            return
        if _all(node.groupClause, ast.GroupingSet):
            self.add("grouping-sets", ", ".join(sorted({t for _, t in dist})))
        quals: list[Any] = [node.whereClause]
        quals += [j.quals for j in _all(from_items, ast.JoinExpr)]
        if len(dist) > 1:
            self._colocated_join(dist, tuple(quals), aliases)

        if node.lockingClause:
            for alias, table in dist:
                if not self._dist_filtered(node.whereClause, alias, table, aliases):
                    self.add("for-update-multi-shard", table)
        for alias, table in dist:
            if self._hot(table) and not self._dist_filtered(tuple(quals), alias, table, aliases):
                self.add("hot-multi-shard", f"SELECT {table}")

    def _colocated_join(
        self, dist: list[tuple[str, str]], quals: tuple[Any, ...], aliases: dict[str, str]
    ) -> None:
        groups = {self.layout.distributed[t][1] for _, t in dist}
        if len(groups) > 1:
            self.add("join-not-colocated", f"groups {sorted(groups)}: {[t for _, t in dist]}")
            return
        # union-find over aliases joined by distribution-column equality
        parent = {a: a for a, _ in dist}

        def find(a: str) -> str:
            while parent[a] != a:
                a = parent[a]
            return a

        by_alias = dict(dist)
        for expr in _all(quals, ast.A_Expr):
            if expr.kind.name != "AEXPR_OP" or expr.name[-1].sval != "=":
                continue
            ends = []
            for side in (expr.lexpr, expr.rexpr):
                if not isinstance(side, ast.ColumnRef) or len(side.fields) != 2:
                    break
                alias = str(side.fields[0].sval).lower()
                col = str(side.fields[1].sval).lower()
                table = by_alias.get(alias)
                if table is None or self.layout.distributed[table][0] != col:
                    break
                ends.append(alias)
            if len(ends) == 2:
                parent[find(ends[0])] = find(ends[1])
        if len({find(a) for a, _ in dist}) > 1:
            self.add("join-not-colocated", f"not joined on distribution columns: {dist}")


def _alias_of(rv: Any) -> str:
    return str(rv.alias.aliasname if rv.alias else rv.relname).lower()


def _direct_relations(items: tuple[Any, ...]) -> list[Any]:
    """The RangeVars of a FROM list and its joins, not those inside subqueries."""
    out: list[Any] = []
    stack = list(items)
    while stack:
        item = stack.pop()
        if isinstance(item, ast.RangeVar):
            out.append(item)
        elif isinstance(item, ast.JoinExpr):
            stack += [item.larg, item.rarg]
    return out


def check(layout: Layout, found: list[Statement]) -> list[Finding]:
    out: list[Finding] = []
    for stmt in found:
        out += _Judge(layout, stmt).judge()
    return sorted(set(out))
