"""Safe conditions for rules.

A rule's ``when:`` is a one-line expression such as ``days_to_resolve <= 7 and
tier == "red"``. It is parsed once at load time, checked against the declared
fields of the rule's event type (names, types, enum values), and evaluated by
`simpleeval <https://github.com/danthedeckie/simpleeval>`_, which walks the
syntax tree itself: there is no ``eval`` and no attribute access, so a rules
file cannot reach Python.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from simpleeval import DEFAULT_OPERATORS, EvalWithCompoundTypes

from scoring.errors import Problem

NUMBER, TEXT, BOOL, DATE = "number", "text", "bool", "date"

# Declared field type → the kind the checker reasons about.
KIND_OF = {"int": NUMBER, "decimal": NUMBER, "text": TEXT, "choice": TEXT, "bool": BOOL, "date": DATE}

_ALLOWED = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd,
    ast.Compare, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn,
    ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Name, ast.Load, ast.Constant,
    ast.List, ast.Tuple,
)
_ORDERING = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)
_OP_TEXT: dict[type, str] = {
    ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
    ast.In: "in", ast.NotIn: "not in", ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/",
    ast.Not: "not", ast.USub: "-", ast.UAdd: "+",
}
# Only the allowed operators reach the evaluator; numbers are exact (Decimal, never float).
_OPERATORS: dict[type, Any] = {
    **{op: fn for op, fn in DEFAULT_OPERATORS.items() if op in _ALLOWED},
    ast.Div: lambda a, b: Decimal(a) / Decimal(b),
}


@dataclass(frozen=True)
class FieldInfo:
    """What the checker knows of a name: its kind and, for a choice, the allowed values."""

    kind: str
    choices: tuple[str, ...] = ()


class _Checker:
    def __init__(self, fields: dict[str, FieldInfo], event: str):
        self.fields = fields
        self.event = event
        self.problems: list[Problem] = []

    def fail(self, at: ast.AST, code: str, hint: str = "", **params: Any) -> str:
        """Note a problem at the node's column within the condition (1-based)."""
        column = getattr(at, "col_offset", -1) + 1
        self.problems.append(Problem(code, params, column=column, hint=hint))
        return "?"

    def kind(self, node: ast.AST) -> str:
        if not isinstance(node, _ALLOWED):
            return self.fail(node, "expr_node", node=type(node).__name__)
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, bool):
                return BOOL
            if isinstance(v, int | float | Decimal):
                return NUMBER
            if isinstance(v, str):
                return TEXT
            return self.fail(node, "expr_node", node=repr(v))
        if isinstance(node, ast.Name):
            if node.id in ("True", "False"):
                return BOOL
            info = self.fields.get(node.id)
            if info is None:
                return self.fail(
                    node, "expr_name", "hint_fields", name=node.id, event=self.event,
                    allowed=", ".join(sorted(self.fields)) or "-",
                )
            return info.kind
        if isinstance(node, ast.BoolOp):
            for operand in node.values:
                k = self.kind(operand)
                if k not in (BOOL, "?"):
                    self.fail(operand, "expr_not_bool")
            return BOOL
        if isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, _ALLOWED):
                return self.fail(node, "expr_node", node=type(node.op).__name__)
            k = self.kind(node.operand)
            if isinstance(node.op, ast.Not):
                return BOOL
            if k not in (NUMBER, "?"):
                self.fail(node, "expr_type", left=k, right="-", op=_op_text(node.op))
            return NUMBER
        if isinstance(node, ast.BinOp):
            if not isinstance(node.op, _ALLOWED):
                return self.fail(node, "expr_node", node=type(node.op).__name__)
            left, right = self.kind(node.left), self.kind(node.right)
            if "?" not in (left, right) and (left, right) != (NUMBER, NUMBER):
                self.fail(node, "expr_type", left=left, right=right, op=_op_text(node.op))
            return NUMBER
        if isinstance(node, ast.List | ast.Tuple):
            kinds = {self.kind(e) for e in node.elts}
            return "list:" + (kinds.pop() if len(kinds) == 1 else "?")
        if isinstance(node, ast.Compare):
            left_node = node.left
            for op, right_node in zip(node.ops, node.comparators, strict=True):
                if not isinstance(op, _ALLOWED):
                    self.fail(node, "expr_node", node=type(op).__name__)
                else:
                    self.compare(node, left_node, op, right_node)
                left_node = right_node
            return BOOL
        return self.fail(node, "expr_node", node=type(node).__name__)

    def compare(self, at: ast.AST, left: ast.AST, op: ast.cmpop, right: ast.AST) -> None:
        lk, rk = self.kind(left), self.kind(right)
        if "?" in (lk, rk):
            return
        if isinstance(op, ast.In | ast.NotIn):
            if not rk.startswith("list:") or rk[5:] not in (lk, "?"):
                self.fail(at, "expr_type", "hint_quote", left=lk, right=rk, op=_op_text(op))
                return
            assert isinstance(right, ast.List | ast.Tuple)
            for elt in right.elts:
                self.check_choice(left, elt)
            return
        if lk != rk:
            self.fail(at, "expr_type", "hint_quote", left=lk, right=rk, op=_op_text(op))
            return
        if isinstance(op, _ORDERING) and lk in (TEXT, BOOL):
            self.fail(at, "expr_type", left=lk, right=rk, op=_op_text(op))
            return
        self.check_choice(left, right)
        self.check_choice(right, left)

    def check_choice(self, name_node: ast.AST, value_node: ast.AST) -> None:
        if not isinstance(name_node, ast.Name) or not isinstance(value_node, ast.Constant):
            return
        info = self.fields.get(name_node.id)
        if info and info.choices and value_node.value not in info.choices:
            self.fail(
                value_node, "expr_choice", name=name_node.id, value=value_node.value,
                allowed=", ".join(info.choices),
            )


def _op_text(op: ast.AST) -> str:
    return _OP_TEXT.get(type(op), type(op).__name__)


class _ExactNumbers(ast.NodeTransformer):
    """Float literals become Decimals, so ``hours <= 0.3`` compares exactly with a decimal field."""

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if isinstance(node.value, float):
            exact = ast.Constant(Decimal(repr(node.value)))  # type: ignore[arg-type]  # simpleeval returns it as is
            return ast.copy_location(exact, node)
        return node


class Condition:
    """A checked, parsed condition; call it with an event's names to get true or false."""

    __slots__ = ("_evaluator", "_memo", "_order", "_tree", "names", "source")
    MEMO_SIZE = 4096

    def __init__(self, source: str, tree: ast.AST, names: frozenset[str]):
        self.source = source
        self._tree = tree
        self.names = names
        self._order = tuple(sorted(names))
        # A condition is a pure function of the few fields it names, and those take few
        # values (a status, a tier, a rating): remember each answer instead of walking
        # the tree again for every event.
        self._memo: dict[tuple[Any, ...], bool] = {}
        # No functions at all: a condition compares fields, nothing more.
        self._evaluator = EvalWithCompoundTypes(operators=_OPERATORS, functions={}, names={})

    def __call__(self, values: dict[str, Any]) -> bool:
        """Evaluate against an event's field values; a missing optional field never matches.

        Arithmetic that has no value for this event (a division by zero) does not match either.
        """
        key = tuple([values.get(n) for n in self._order])
        answer = self._memo.get(key)
        if answer is None:
            answer = self._evaluate(values, key)
            if len(self._memo) >= self.MEMO_SIZE:
                self._memo.clear()
            self._memo[key] = answer
        return answer

    def _evaluate(self, values: dict[str, Any], key: tuple[Any, ...]) -> bool:
        if None in key:
            return False
        self._evaluator.names = values
        try:
            return bool(self._evaluator.eval(self.source, previously_parsed=self._tree))
        except (ArithmeticError, InvalidOperation):
            return False


def compile_condition(
    source: str, fields: dict[str, FieldInfo], event: str
) -> tuple[Condition | None, list[Problem]]:
    """Parse and type-check a condition; return it, or the problems (column-relative)."""
    text = source.strip()
    try:
        module = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        # Python gives no offset when the condition ends too early ("hours >"): point at its end.
        column = exc.offset if exc.offset and exc.lineno == 1 else len(text) + 1
        return None, [Problem("expr_syntax", {"detail": exc.msg}, column=column)]
    checker = _Checker(fields, event)
    kind = checker.kind(module.body)
    if kind not in (BOOL, "?") and not checker.problems:
        checker.problems.append(Problem("expr_not_bool", column=1))
    if checker.problems:
        return None, checker.problems
    names = frozenset(
        n.id for n in ast.walk(module) if isinstance(n, ast.Name) and n.id not in ("True", "False")
    )
    tree = _ExactNumbers().visit(module).body
    return Condition(text, tree, names), []
