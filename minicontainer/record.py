"""A plain record class for the `run` path: fields with defaults, keyword construction, to_dict() (lesson 02).

Elsewhere the package uses `dataclasses`; but importing it costs `run` 10-15 ms (it imports
`inspect`, which imports `ast`, `dis` and `tokenize`), a third of runc's whole run. The few
classes `run` needs (RunSpec, Container) derive from this instead. It does what we use of a
dataclass, nothing more:

    class Point(Record):
        x: int                 # a field without default: required
        tags: list[str] = []   # a list/dict default is copied for each instance (never shared)

    Point(x=1) == Point(x=1, tags=[])     Point(x=1).to_dict() == {"x": 1, "tags": []}
"""

from __future__ import annotations

_REQUIRED = object()


class Record:
    """Fields are the class's annotated attributes, in order; construct with keywords."""

    FIELDS: tuple[str, ...] = ()

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        cls.FIELDS = tuple(cls.__dict__.get("__annotations__", {}))

    def __init__(self, **values: object) -> None:
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
            setattr(self, name, value)

    def to_dict(self) -> dict:
        """The fields as a dict (what `dataclasses.asdict` gives for flat records)."""
        return {name: getattr(self, name) for name in self.FIELDS}

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items())
        return f"{type(self).__name__}({fields})"
