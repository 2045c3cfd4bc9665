"""A stored value that does not fit its annotation, and where inside it.

Pure. Raised while turning stored JSON back into typed values
(``encoding/typed.py``, ``encoding/scalars.py``, ``encoding/unions.py``):
in the worker it fails the task, in the API's enqueue it is a 400 naming
the argument and the place.
"""

from __future__ import annotations

from django_taskflow import typecheck
from django_taskflow.exceptions import PayloadShapeError

# What turning stored JSON into a typed value may raise for a value that does not fit.
UNFIT = (TypeError, ValueError, KeyError, AttributeError, ArithmeticError)


class UnfitValue(PayloadShapeError):
    """A stored value that cannot be read as its annotated type; ``where`` is the place inside it.

    ``where`` is empty for the value itself, else the keys and indexes that
    lead to the part that does not fit (``['due_on']``, ``[2]['sku']``).
    """

    def __init__(self, problem: str, where: str = "") -> None:
        self.problem = problem
        self.where = where
        super().__init__(f"{where} {problem}" if where else problem)

    def inside(self, step: str) -> UnfitValue:
        """The same problem, one key or index further out (``step`` leads to ``where``)."""
        return UnfitValue(self.problem, step + self.where)


def unfit(exc: BaseException, expected: str, stored: object, step: str = "") -> UnfitValue:
    """``exc``, raised reading ``stored`` as ``expected``, as an :class:`UnfitValue`."""
    if isinstance(exc, UnfitValue):
        return exc.inside(step)
    shown = typecheck.describe_value(stored)
    return UnfitValue(f"is {shown}, which cannot be read as {expected} ({exc})", step)
