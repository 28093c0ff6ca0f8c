"""A plain record class for the `run` path: fields with defaults, keyword construction, to_dict() (lesson 02).

Elsewhere the package uses `dataclasses`; but importing it costs `run` ~13 ms (it imports `inspect`,
which imports `ast`, `dis` and `tokenize`; bench/bench_start_tricks.py), a third of runc's whole run. The few
classes `run` needs (RunSpec, Container, cgroups.Limits ...) derive from this instead. It does
what we use of a dataclass, nothing more:

    class Point(Record):
        x: int                 # a field without default: required
        tags: list[str] = []   # a list/dict default is copied for each instance (never shared)

    Point(x=1) == Point(1, []) == Point(x=1, tags=[])     Point(x=1).as_dict() == {"x": 1, "tags": []}

`class Size(Record, frozen=True)` makes instances read-only and hashable, like @dataclass(frozen=True).
"""

from __future__ import annotations

_REQUIRED = object()


class Record:
    """Fields are the class's annotated attributes, in order; construct by position or keyword."""

    FIELDS: tuple[str, ...] = ()
    FROZEN = False

    def __init_subclass__(cls, frozen: bool = False, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.FIELDS = tuple(cls.__dict__.get("__annotations__", {}))
        cls.FROZEN = frozen
        if frozen:
            cls.__hash__ = lambda self: hash(tuple(self.as_dict().values()))

    def __init__(self, *args: object, **values: object) -> None:
        if len(args) > len(self.FIELDS):
            raise TypeError(f"{type(self).__name__}() takes {len(self.FIELDS)} fields, {len(args)} were given")
        for name, value in zip(self.FIELDS, args):
            if name in values:
                raise TypeError(f"{type(self).__name__}() got field {name!r} twice")
            values[name] = value
        unknown = set(values) - set(self.FIELDS)
        if unknown:
            raise TypeError(f"{type(self).__name__}() got unexpected field(s): {', '.join(sorted(unknown))}")
        for name in self.FIELDS:
            if name in values:
                value = values[name]
            else:
                value = getattr(type(self), name, _REQUIRED)
                if value is _REQUIRED:
                    raise TypeError(f"{type(self).__name__}() missing required field: {name!r}")
                if isinstance(value, (list, dict)):
                    value = value.copy()  # a fresh default per instance
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        if self.FROZEN:
            raise AttributeError(f"cannot assign to field {name!r}: {type(self).__name__} is frozen")
        object.__setattr__(self, name, value)

    def as_dict(self) -> dict:
        """Every field as a dict (what `dataclasses.asdict` gives for flat records)."""
        return {name: getattr(self, name) for name in self.FIELDS}

    def to_dict(self) -> dict:
        """The record as a dict for JSON (a subclass may leave fields out, e.g. cgroups.Limits)."""
        return self.as_dict()

    def replace(self, **changes: object) -> "Record":
        """A copy with some fields changed (`dataclasses.replace`)."""
        return type(self)(**{**self.as_dict(), **changes})

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.as_dict() == other.as_dict()

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.as_dict().items())
        return f"{type(self).__name__}({fields})"
