"""`calculator` (arithmetic without `eval`) and `sql_query` (read-only, on the tenant's own SQL
sources: activities/sql.py)."""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from activities.sql import read_only_query, tenant_sql_source
from activities.tools.registry import ToolContext, tool
from aios.errors import UserError

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs,
    "round": round,
    "min": min,
    "max": max,
    "sqrt": math.sqrt,
    "log": math.log,
    "log10": math.log10,
    "exp": math.exp,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "floor": math.floor,
    "ceil": math.ceil,
}
_CONSTANTS = {"pi": math.pi, "e": math.e}
MAX_EXPONENT = 1000
MAX_MAGNITUDE = 1e300
MAX_NODES = 200


def evaluate(expression: str) -> float | int:
    """Arithmetic on numbers: + - * / // % **, parentheses, a few math functions and constants.
    The expression is parsed, never executed: names, attributes, calls of anything else, strings
    and huge powers are refused."""
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError:
        raise UserError(f"{expression!r} is not an arithmetic expression") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise UserError("the expression is too long")

    def walk(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return node.value
        if isinstance(node, ast.Name) and node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left, right = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
                raise UserError(f"exponents above {MAX_EXPONENT} are not computed")
            result = _BINARY[type(node.op)](left, right)
            if isinstance(result, complex) or abs(result) > MAX_MAGNITUDE:
                raise UserError("the result is out of range")
            return result
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](walk(node.operand))
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _FUNCTIONS
            and not node.keywords
        ):
            return _FUNCTIONS[node.func.id](*(walk(a) for a in node.args))
        raise UserError(
            f"{ast.unparse(node)!r} is not allowed: use numbers, + - * / // % **, parentheses, "
            f"{', '.join(sorted(_FUNCTIONS))}, pi and e"
        )

    try:
        value = walk(tree)
    except ZeroDivisionError:
        raise UserError("division by zero") from None
    except (ValueError, OverflowError, TypeError) as e:
        raise UserError(f"cannot compute {expression!r}: {e}") from None
    return value  # type: ignore[no-any-return]


class CalculatorArgs(BaseModel):
    expression: str = Field(min_length=1, max_length=1000, examples=["(17.5 * 4) / sqrt(2)"])


class Calculated(BaseModel):
    expression: str
    value: float | int


@tool(side_effects="none", timeout_s=5, trusted_output=True)
async def calculator(args: CalculatorArgs, ctx: ToolContext) -> Calculated:
    """Evaluate an arithmetic expression exactly (use it instead of doing sums in your head)."""
    return Calculated(expression=args.expression, value=evaluate(args.expression))


class SqlQueryArgs(BaseModel):
    database: str = Field(min_length=1, max_length=100, description="one of the tenant's sources")
    query: str = Field(min_length=1, max_length=20_000, description="one read-only SQL query")
    max_rows: int = Field(default=200, ge=1, le=5000)


class SqlRows(BaseModel):
    columns: list[str]
    rows: list[dict[str, Any]]
    truncated: bool


@tool(side_effects="reads", timeout_s=60)
async def sql_query(args: SqlQueryArgs, ctx: ToolContext) -> SqlRows:
    """Run a read-only SQL query on one of the tenant's SQL sources and return its rows."""
    sources = await tenant_sql_source(
        ctx.pool, ctx.settings, ctx.tenant, args.database, roles=ctx.roles
    )
    rows, more = await read_only_query(sources, args.database, args.query, row_limit=args.max_rows)
    return SqlRows(columns=list(rows[0]) if rows else [], rows=rows, truncated=more)
