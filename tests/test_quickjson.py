"""quickjson: the same text and values as the json module, without importing it (tests against json itself)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minicontainer import quickjson

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
finite_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()


def values(leaves: st.SearchStrategy) -> st.SearchStrategy:
    return st.recursive(leaves, lambda inner: st.lists(inner, max_size=5)
                        | st.dictionaries(st.text(max_size=8), inner, max_size=5), max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(values(finite_scalars))
def test_loads_of_dumps_gives_the_value_back(value):
    assert quickjson.loads(quickjson.dumps(value)) == value
    assert quickjson.loads(quickjson.dumps(value, indent=2)) == value


@settings(max_examples=300, deadline=None)
@given(values(scalars), st.sampled_from([None, 0, 1, 2, 4, "\t"]))
def test_dumps_writes_what_json_dumps_writes(value, indent):
    assert quickjson.dumps(value, indent=indent) == json.dumps(value, indent=indent)


@settings(max_examples=300, deadline=None)
@given(values(finite_scalars), st.sampled_from([None, 0, 2]), st.sampled_from(["", " ", "\n\t\r "]))
def test_loads_reads_what_json_loads_reads(value, indent, pad):
    text = pad + json.dumps(value, indent=indent, ensure_ascii=False) + pad
    assert quickjson.loads(text) == json.loads(text)
    assert quickjson.loads(text.encode()) == json.loads(text.encode())


def test_special_floats_and_keys_as_json_writes_them():
    value = {1: [math.nan, math.inf, -math.inf, -0.0, 1e300], 2.5: True, True: None, None: (1, 2), False: {}}
    assert quickjson.dumps(value) == json.dumps(value)
    back = quickjson.loads("[NaN, Infinity, -Infinity]")
    assert math.isnan(back[0]) and back[1:] == [math.inf, -math.inf]


def test_what_json_refuses_is_refused():
    with pytest.raises(TypeError, match="not JSON serializable"):
        quickjson.dumps({"a": {1, 2}})
    with pytest.raises(TypeError, match="keys must be"):
        quickjson.dumps({(1, 2): 3})
    loop: list = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular"):
        quickjson.dumps(loop)


@pytest.mark.parametrize("bad, pos", [
    ("", 0), ("   ", 3), ('{"a": 1', 7), ("[1, 2", 5), ('{"a": 1} x', 9), ("[1] [2]", 4), ("tru", 0),
    ('"\\q"', 1), ('"abc', 0), ('"a\x01b"', 2), ("\ufeff[]", 0), ("{'a': 1}", 1), ("[1,]", 3),
])
def test_bad_input_is_a_value_error_with_the_position(bad, pos):
    with pytest.raises(ValueError) as err:
        quickjson.loads(bad)
    with pytest.raises(ValueError) as reference:
        json.loads(bad)
    assert err.value.pos == pos
    assert (err.value.pos, str(err.value)) == (reference.value.pos, str(reference.value))


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32",
                                      "utf-32-le", "utf-32-be"])
def test_bytes_in_every_encoding_json_accepts(encoding):
    text = '{"name": "b\u00fcsybox \u2603", "n": [1, 2.5]}'
    assert quickjson.loads(text.encode(encoding)) == json.loads(text.encode(encoding)) == json.loads(text)
    assert quickjson.loads(b"[]") == [] and quickjson.loads(bytearray(b' {"a":1} ')) == {"a": 1}


def test_importing_it_imports_neither_json_nor_re():
    root = str(Path(quickjson.__file__).parents[1])  # -I leaves the current directory off sys.path
    code = (f"import sys; sys.path.insert(0, {root!r}); import minicontainer.quickjson as q; "
            "q.loads(q.dumps({'a': [1, 2.5, None, 'x']}, indent=2)); "
            "print(sorted(m for m in ('json', 're', 'enum', 'functools', 'collections') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_without_the_accelerator_it_falls_back_to_json(monkeypatch):
    monkeypatch.setattr(quickjson, "_json", None)
    monkeypatch.setattr(quickjson, "_scan", None)
    value = {"a": [1, 2.5, None, "\u2603"], "b": {"c": True}}
    assert quickjson.dumps(value, indent=2) == json.dumps(value, indent=2)
    assert quickjson.loads(b' {"a": [1]} ') == {"a": [1]}
    with pytest.raises(ValueError):
        quickjson.loads("[1] x")
