"""SQL text to the typed syntax tree of `ast.py`, via sqlglot's PostgreSQL dialect.

Everything outside SpacetimeDB's grammar is rejected here, naming the construct and where it is.
`mode="subscription"` accepts the subscription grammar (wire spec 8.6); `mode="sql"` the larger
grammar of `/sql` and OneOffQuery (projections, COUNT(*), ORDER BY, LIMIT, INSERT/UPDATE/DELETE).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from sqlglot import exp
from sqlglot.dialects.postgres import Postgres
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Token, TokenType

from spacetimedb.query import ast
from spacetimedb.query.errors import (
    SqlError,
    SqlLimitError,
    SqlPosition,
    SqlSyntaxError,
    SqlUnsupportedError,
)
from spacetimedb.query.limits import MAX_SQL_DEPTH, MAX_SQL_LENGTH

Mode = Literal["subscription", "sql"]

_COMPARE_OPS: dict[type[exp.Expression], ast.CompareOp] = {
    exp.EQ: "=",
    exp.NEQ: "!=",
    exp.LT: "<",
    exp.LTE: "<=",
    exp.GT: ">",
    exp.GTE: ">=",
}

#: Friendly names of constructs users try, for the "not supported" message.
_FEATURE_NAMES: dict[str, str] = {
    "Not": "NOT",
    "Is": "IS [NOT] NULL",
    "Null": "NULL",
    "Like": "LIKE",
    "ILike": "ILIKE",
    "In": "IN",
    "Between": "BETWEEN",
    "Add": "arithmetic",
    "Sub": "arithmetic",
    "Mul": "arithmetic",
    "Div": "arithmetic",
    "Mod": "arithmetic",
    "Subquery": "subqueries",
    "Exists": "EXISTS",
    "Case": "CASE",
    "Cast": "CAST",
}

_SELECT_ARGS_SUB = {"expressions", "from_", "joins", "where"}
_SELECT_ARGS_SQL = _SELECT_ARGS_SUB | {"limit", "order"}
_SELECT_ARG_NAMES = {
    "distinct": "DISTINCT",
    "group": "GROUP BY",
    "having": "HAVING",
    "order": "ORDER BY",
    "limit": "LIMIT",
    "offset": "OFFSET",
    "with_": "WITH",
    "windows": "WINDOW",
    "into": "SELECT INTO",
    "locks": "FOR UPDATE/SHARE",
    "laterals": "LATERAL",
}


def position_at(text: str, offset: int) -> SqlPosition:
    """The 1-based line/column of a 0-based character offset into `text`."""
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + 1
    line_start = text.rfind("\n", 0, offset) + 1
    return SqlPosition(line, offset - line_start + 1, offset)


class _Parser:
    def __init__(self, text: str, mode: Mode) -> None:
        self.text = text
        self.mode = mode

    # ---- positions and errors --------------------------------------------------------------

    def pos(self, node: exp.Expression | None) -> SqlPosition | None:
        """The position of the first token of `node` (sqlglot records positions on leaves)."""
        if node is None:
            return None
        starts = [n.meta["start"] for n in node.walk() if isinstance(n, exp.Expression) and "start" in n.meta]
        return position_at(self.text, min(starts)) if starts else None

    def unsupported(self, what: str, node: exp.Expression | None, hint: str = "") -> SqlUnsupportedError:
        where = "in subscriptions" if self.mode == "subscription" else "in SQL queries"
        msg = f"Unsupported {where}: {what}"
        return SqlUnsupportedError(msg + (f". {hint}" if hint else ""), self.pos(node))

    # ---- statements ------------------------------------------------------------------------

    def statement(self, node: exp.Expression) -> ast.Statement:
        if isinstance(node, exp.Select):
            return self.select(node)
        if isinstance(node, exp.SetOperation):
            raise self.unsupported("set operations (UNION, INTERSECT, EXCEPT)", node)
        if self.mode == "subscription":
            raise self.unsupported(
                f"{type(node).__name__.upper()} statements",
                node,
                "A subscription must be a single SELECT query",
            )
        if isinstance(node, exp.Insert):
            return self.insert(node)
        if isinstance(node, exp.Update):
            return self.update(node)
        if isinstance(node, exp.Delete):
            return self.delete(node)
        raise self.unsupported(f"{type(node).__name__.upper()} statements", node)

    def _check_args(self, node: exp.Expression, allowed: set[str], kind: str) -> None:
        for key, value in node.args.items():
            if key in allowed or value is None or value is False or value == []:
                continue
            name = _SELECT_ARG_NAMES.get(key, key.rstrip("_").upper())
            raise self.unsupported(f"{name} in {kind}", value if isinstance(value, exp.Expression) else node)

    def select(self, node: exp.Select) -> ast.SelectStmt:
        self._check_args(
            node, _SELECT_ARGS_SUB if self.mode == "subscription" else _SELECT_ARGS_SQL, "SELECT"
        )
        from_ = node.args.get("from_")
        if from_ is None:
            raise SqlSyntaxError("A FROM clause is required", self.pos(node))
        if from_.expressions:
            raise self.unsupported("implicit (comma) joins", from_, "Write `JOIN u ON t.a = u.b` instead")
        from_table = self.table(from_.this)
        joins = tuple(self.join(j) for j in node.args.get("joins") or ())
        where = node.args.get("where")
        limit = node.args.get("limit")
        order = node.args.get("order")
        return ast.SelectStmt(
            projection=self.projection(node.expressions),
            from_table=from_table,
            joins=joins,
            where=self.expr(where.this) if where is not None else None,
            order_by=self.order_by(order) if order is not None else (),
            limit=self.limit(limit) if limit is not None else None,
        )

    def insert(self, node: exp.Insert) -> ast.InsertStmt:
        self._check_args(node, {"this", "expression", "is_function"}, "INSERT")
        target = node.this
        columns: tuple[ast.ColumnRef, ...] | None = None
        if isinstance(target, exp.Schema):
            columns = tuple(ast.ColumnRef(None, self.ident_text(c), self.pos(c)) for c in target.expressions)
            target = target.this
        values = node.expression
        if not isinstance(values, exp.Values):
            raise self.unsupported(
                "INSERT without VALUES", values, "Write INSERT INTO t (a, b) VALUES (1, 'x')"
            )
        rows = []
        for tup in values.expressions:
            items = tup.expressions if isinstance(tup, exp.Tuple) else [tup]
            rows.append(tuple(self.literal(v, "INSERT value") for v in items))
        return ast.InsertStmt(self.table(target), columns, tuple(rows))

    def update(self, node: exp.Update) -> ast.UpdateStmt:
        self._check_args(node, {"this", "expressions", "where"}, "UPDATE")
        assignments = []
        for a in node.expressions:
            if not isinstance(a, exp.EQ) or not isinstance(a.this, exp.Column):
                raise self.unsupported("assignment expression", a, "Write SET col = <literal>")
            assignments.append((self.column(a.this), self.literal(a.expression, "assigned value")))
        where = node.args.get("where")
        return ast.UpdateStmt(
            self.table(node.this), tuple(assignments), self.expr(where.this) if where is not None else None
        )

    def delete(self, node: exp.Delete) -> ast.DeleteStmt:
        self._check_args(node, {"this", "where"}, "DELETE")
        where = node.args.get("where")
        return ast.DeleteStmt(self.table(node.this), self.expr(where.this) if where is not None else None)

    # ---- FROM ------------------------------------------------------------------------------

    def ident_text(self, node: Any) -> str:
        if isinstance(node, exp.Identifier):
            return str(node.this)
        if isinstance(node, exp.Column) and node.args.get("table") is None:
            return self.ident_text(node.this)
        raise self.unsupported(f"name `{node.sql() if isinstance(node, exp.Expression) else node}`", node)

    def table(self, node: exp.Expression) -> ast.TableRef:
        if not isinstance(node, exp.Table) or not isinstance(node.this, exp.Identifier):
            raise self.unsupported(
                f"FROM expression `{node.sql(dialect='postgres')}`",
                node,
                "Only table names may appear in FROM",
            )
        self._check_args(node, {"this", "db", "catalog", "alias"}, "a table reference")
        # Namespaced tables (`lib.table`) are stored under their dotted name, as upstream does.
        parts = [node.args.get("catalog"), node.args.get("db"), node.this]
        name = ".".join(self.ident_text(p) for p in parts if p is not None)
        alias_node = node.args.get("alias")
        alias = name
        if alias_node is not None:
            if alias_node.args.get("columns"):
                raise self.unsupported("column aliases on a table", alias_node)
            alias = self.ident_text(alias_node.this)
        return ast.TableRef(name, alias, self.pos(node))

    def join(self, node: exp.Join) -> ast.JoinClause:
        side, kind = node.args.get("side"), node.args.get("kind")
        if kind is None and "pivots" not in node.args:  # sqlglot's shape for `FROM t, s`
            raise self.unsupported("implicit (comma) joins", node, "Write `JOIN u ON t.a = u.b` instead")
        if side or (kind and str(kind).upper() not in ("INNER", "CROSS")) or node.args.get("using"):
            raise self.unsupported("non-inner joins", node, "Only [INNER] JOIN ... ON a = b is supported")
        table = self.table(node.this)
        on = node.args.get("on")
        if on is None:
            return ast.JoinClause(table, None, self.pos(node))
        while isinstance(on, exp.Paren):
            on = on.this
        if not (
            isinstance(on, exp.EQ)
            and isinstance(on.this, exp.Column)
            and isinstance(on.expression, exp.Column)
        ):
            raise self.unsupported(
                f"join condition `{on.sql(dialect='postgres')}`",
                on,
                "The ON clause must be a single equality of two columns: ON t.a = u.b",
            )
        return ast.JoinClause(table, (self.column(on.this), self.column(on.expression)), self.pos(node))

    # ---- SELECT list, ORDER BY, LIMIT --------------------------------------------------------

    def projection(self, items: list[exp.Expression]) -> ast.Projection:
        stars = [i for i in items if isinstance(i, exp.Star) or (isinstance(i, exp.Column) and i.is_star)]
        if stars:
            if len(items) > 1:
                raise self.unsupported("mixed wildcard projections", items[1])
            item = items[0]
            if isinstance(item, exp.Star):
                return ast.Star(None, self.pos(item))
            return ast.Star(self.ident_text(item.args["table"]), self.pos(item))
        if self.mode == "subscription":
            raise self.unsupported(
                "column projections",
                items[0] if items else None,
                "Subscriptions must return a table type: use SELECT * or SELECT t.*",
            )
        if len(items) == 1:
            only = items[0]
            inner = only.this if isinstance(only, exp.Alias) else only
            if isinstance(inner, exp.Count):
                if not isinstance(only, exp.Alias):
                    raise SqlUnsupportedError(
                        "Aggregate expressions must have column aliases: write COUNT(*) AS n", self.pos(only)
                    )
                if not isinstance(inner.this, exp.Star) or inner.args.get("distinct"):
                    raise self.unsupported(
                        f"aggregate `{inner.sql()}`", inner, "Only COUNT(*) AS alias is supported"
                    )
                return ast.ProjCount(self.ident_text(only.args["alias"]))
        cols = []
        for item in items:
            if isinstance(item, exp.Alias) and isinstance(item.this, exp.Column):
                cols.append(ast.ProjColumn(self.column(item.this), self.ident_text(item.args["alias"])))
            elif isinstance(item, exp.Column):
                col = self.column(item)
                cols.append(ast.ProjColumn(col, col.column))
            else:
                raise self.unsupported(f"projection expression `{item.sql(dialect='postgres')}`", item)
        return tuple(cols)

    def order_by(self, node: exp.Order) -> tuple[ast.OrderItem, ...]:
        out = []
        for o in node.expressions:
            if not isinstance(o, exp.Ordered) or not isinstance(o.this, exp.Column):
                raise self.unsupported("ORDER BY expression", o, "Order by column names only")
            out.append(ast.OrderItem(self.column(o.this), bool(o.args.get("desc"))))
        return tuple(out)

    def limit(self, node: exp.Limit) -> int:
        value = node.args.get("expression")
        if not (isinstance(value, exp.Literal) and not value.is_string and value.this.isdigit()):
            raise self.unsupported("LIMIT expression", value or node, "LIMIT takes a non-negative integer")
        return int(value.this)

    # ---- expressions -------------------------------------------------------------------------

    def column(self, node: exp.Column) -> ast.ColumnRef:
        if node.args.get("db") is not None or node.args.get("catalog") is not None:
            # `lib.table.col`: everything before the column is a (namespaced) table name.
            parts = [node.args.get("catalog"), node.args.get("db"), node.args.get("table")]
            table: str | None = ".".join(self.ident_text(p) for p in parts if p is not None)
        else:
            t = node.args.get("table")
            table = self.ident_text(t) if t is not None else None
        return ast.ColumnRef(table, self.ident_text(node.this), self.pos(node))

    def literal(self, node: exp.Expression, what: str) -> ast.Lit:
        operand = self.operand(node)
        if not isinstance(operand, ast.Lit):
            raise self.unsupported(
                f"{what} `{node.sql(dialect='postgres')}`", node, "Only literal values are allowed"
            )
        return operand

    def operand(self, node: exp.Expression) -> ast.Operand:
        if isinstance(node, exp.Column) and not node.is_star:
            return self.column(node)
        if isinstance(node, exp.Literal):
            return ast.Lit("str" if node.is_string else "num", str(node.this), self.pos(node))
        if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string:
            return ast.Lit("num", "-" + str(node.this.this), self.pos(node))
        if isinstance(node, exp.HexString):
            return ast.Lit("hex", str(node.this), self.pos(node))
        if isinstance(node, exp.Boolean):
            return ast.Lit("bool", "true" if node.this else "false", self.pos(node))
        if isinstance(node, exp.Parameter):
            raise self.unsupported(f"parameter `{node.sql()}`", node, "The only parameter is :sender")
        if isinstance(node, exp.Placeholder):
            if node.this == "sender":
                return ast.SenderParam(self.pos(node))
            raise self.unsupported(f"parameter `{node.sql()}`", node, "The only parameter is :sender")
        raise self._unsupported_expr(node)

    def _unsupported_expr(self, node: exp.Expression) -> SqlError:
        name = _FEATURE_NAMES.get(type(node).__name__)
        if name is None and isinstance(node, exp.Func):
            name = "function calls"
        text = node.sql(dialect="postgres")
        label = f"{name} (`{text}`)" if name else f"expression `{text}`"
        return self.unsupported(
            label, node, "Use comparisons (= <> < <= > >=) of columns and literals joined by AND/OR"
        )

    def expr(self, node: exp.Expression) -> ast.Expr:
        while isinstance(node, exp.Paren):
            node = node.this
        if isinstance(node, exp.And | exp.Or):
            # sqlglot nests a chain `a OR b OR c ...` one level per operator: collect it into one
            # flat n-ary term without recursing, so a chain of any length costs no stack.
            kind = type(node)
            op: Literal["and", "or"] = "and" if kind is exp.And else "or"
            terms: list[ast.Expr] = []
            stack: list[exp.Expression] = [node]
            while stack:
                item = stack.pop()
                while isinstance(item, exp.Paren):
                    item = item.this
                if type(item) is kind:
                    stack.append(item.expression)
                    stack.append(item.this)
                else:
                    terms.append(self.expr(item))
            return ast.Logic(op, tuple(terms))
        cmp = _COMPARE_OPS.get(type(node))
        if cmp is not None:
            left, right = node.this, node.expression
            while isinstance(left, exp.Paren):
                left = left.this
            while isinstance(right, exp.Paren):
                right = right.this
            return ast.Compare(cmp, self.operand(left), self.operand(right), self.pos(node))
        return self.operand(node)


_DIALECT = Postgres()


def _check_depth(text: str, tokens: list[Token]) -> None:
    """Refuse more than MAX_SQL_DEPTH nested parentheses before the recursive parser sees them."""
    depth = 0
    for tok in tokens:
        if tok.token_type is TokenType.L_PAREN:
            depth += 1
            if depth > MAX_SQL_DEPTH:
                raise SqlLimitError(
                    f"SQL nested too deeply: more than {MAX_SQL_DEPTH} levels of parentheses",
                    position_at(text, tok.start),
                )
        elif tok.token_type is TokenType.R_PAREN:
            depth -= 1


def check_length(text: str, max_length: int | None = MAX_SQL_LENGTH) -> None:
    """Refuse a query text longer than `max_length` characters (None: any length)."""
    if max_length is not None and len(text) > max_length:
        raise SqlLimitError(
            f"SQL query too long: {len(text)} characters, at most {max_length} are accepted. "
            "Split it into several queries"
        )


def parse_sql(text: str, mode: Mode = "sql", *, max_length: int | None = MAX_SQL_LENGTH) -> ast.Statement:
    """Parse exactly one statement (a trailing `;` is fine). Raises an `SqlError` subclass,
    `SqlLimitError` for a text longer than `max_length` or nested deeper than MAX_SQL_DEPTH."""
    check_length(text, max_length)
    parser = _Parser(text, mode)
    try:
        tokens = _DIALECT.tokenize(text)
        _check_depth(text, tokens)
        nodes = [n for n in _DIALECT.parser().parse(tokens, text) if isinstance(n, exp.Expression)]
        return _one_statement(parser, nodes)
    except RecursionError:
        # Nesting the depth check does not count (e.g. deep subqueries): still a clear answer.
        raise SqlLimitError("SQL nested too deeply: simplify the query") from None
    except ParseError as e:
        first = e.errors[0] if e.errors else {}
        desc = re.sub(r"<class '[\w.]+\.(\w+)'>", r"\1", str(first.get("description", str(e))))
        desc = re.sub(r"<Token token_type: [\w.]+, text: (.*?), line: .*?>", r"`\1`", desc)
        desc = desc.replace("`SENTINEL`", "the end of the query")
        near = first.get("highlight")
        if near:
            desc = f"near `{near}`: {desc}"
        line, col = first.get("line"), first.get("col")
        pos = None
        if isinstance(line, int) and isinstance(col, int):
            lines = text.split("\n")
            offset = sum(len(s) + 1 for s in lines[: line - 1]) + col - 1
            pos = SqlPosition(line, col, offset)
        raise SqlSyntaxError(f"SQL syntax error: {desc}", pos) from None
    except TokenError as e:
        quote = text.rfind("'")
        hint = " (is a string literal missing its closing quote?)" if text.count("'") % 2 else ""
        raise SqlSyntaxError(
            f"SQL syntax error: {e}{hint}", position_at(text, quote) if hint else None
        ) from None


def _one_statement(parser: _Parser, nodes: list[exp.Expression]) -> ast.Statement:
    if not nodes:
        raise SqlSyntaxError("Empty SQL query: write a statement such as SELECT * FROM t")
    if len(nodes) > 1:
        raise SqlUnsupportedError(
            "Multiple SQL statements are not supported: send one statement at a time", parser.pos(nodes[1])
        )
    return parser.statement(nodes[0])
