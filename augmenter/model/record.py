"""A small immutable value class that costs nothing to define.

A ``@dataclass`` compiles its methods from generated source when the class is made (about
3 M instructions, a millisecond, each) and a ``NamedTuple`` does as much for its ``__new__``;
a plain run of ``augment`` imports every module, so the values it defines by the dozen
(addresses, occupants, device facts) are :class:`Record` subclasses instead: their fields in
``__slots__``, set once by a hand-written ``__init__``, compared, hashed and shown by them.
"""

from __future__ import annotations


class Record:
    """Fields in ``__slots__``, set by ``__init__`` and never again; equal when of the same
    class with equal fields."""

    __slots__ = ()

    def _names(self) -> tuple[str, ...]:
        names: tuple[str, ...] = self.__slots__
        return names

    def _fields(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self._names())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Record) or type(other) is not type(self):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash((type(self).__name__, *self._fields()))

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._names())
        return f"{type(self).__name__}({inner})"
