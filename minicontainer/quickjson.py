"""JSON for the `run` path without importing `json` (lesson 02: start-up is a feature).

`minicontainer run` writes and reads a few small JSON files (the container's state, the image
cache). `import json` looks free, but the json package imports `re` for its scanner and `re`
imports `enum`, `functools` and `collections`: ~8 ms of CPU time per `run`, measured on `run` itself by
bench/bench_start_tricks.py, when runc's whole run takes ~30 ms.

The work itself is done by the same C code the json module uses: the accelerator module `_json`
(part of CPython, imported by json.decoder/json.encoder when present):

  loads  `_json.make_scanner(context)` is json's parser. The context is any object with the
         attributes `json.decoder.JSONDecoder` gives it (strict, object_hook, parse_float, ...);
         we skip JSON whitespace at both ends and check for trailing data, as `json.loads` does.
  dumps  `_json.encode_basestring_ascii` quotes strings exactly as `json.dumps` does by default
         (ensure_ascii=True); the rest is a small recursive writer with json's rules for
         numbers (`repr`, NaN/Infinity) and dict keys (int/float/bool/None keys become strings).

So `dumps(x) == json.dumps(x)`, `dumps(x, indent=2) == json.dumps(x, indent=2)` and
`loads(s) == json.loads(s)` (tests/test_quickjson.py checks it for generated values). Bad input
raises `json.JSONDecodeError` (a ValueError with the position), importing json only then.
On a Python without `_json` both functions simply call the json module.
"""

from __future__ import annotations

try:
    import _json
except ImportError:  # another Python implementation: use the json module itself
    _json = None

_WHITESPACE = " \t\n\r"  # JSON's whitespace (json.decoder.WHITESPACE)
_INF = float("inf")


def _error(message: str, text: str, pos: int) -> ValueError:
    from json import JSONDecodeError  # only on bad input: the C scanner does the same
    return JSONDecodeError(message, text, pos)


class _Context:
    """What `_json.make_scanner` reads from a json.decoder.JSONDecoder: the default settings."""

    strict = True                 # control characters inside strings are errors
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"-Infinity": -_INF, "Infinity": _INF, "NaN": float("nan")}.__getitem__
    memo: dict = {}               # not read by the C scanner (it keeps its own); here for completeness


_scan = _json.make_scanner(_Context()) if _json is not None else None


def _decode_bytes(data: bytes) -> str:
    """bytes -> str like json.loads: UTF-8, UTF-16 or UTF-32 told apart by the first bytes (RFC 4627)."""
    if data.startswith((b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00")):
        encoding = "utf-32"
    elif data.startswith((b"\xfe\xff", b"\xff\xfe")):
        encoding = "utf-16"
    elif data.startswith(b"\xef\xbb\xbf"):
        encoding = "utf-8-sig"
    elif len(data) >= 4 and not data[0]:
        encoding = "utf-16-be" if data[1] else "utf-32-be"
    elif len(data) >= 4 and not data[1]:
        encoding = "utf-16-le" if data[2] or data[3] else "utf-32-le"
    elif len(data) == 2 and not data[0]:
        encoding = "utf-16-be"
    elif len(data) == 2 and not data[1]:
        encoding = "utf-16-le"
    else:
        encoding = "utf-8"
    return data.decode(encoding, "surrogatepass")


def loads(text: str | bytes | bytearray) -> object:
    """Parse one JSON document, like `json.loads(text)`."""
    if _scan is None:
        import json
        return json.loads(text)
    if isinstance(text, (bytes, bytearray)):
        text = _decode_bytes(bytes(text))
    elif not isinstance(text, str):
        raise TypeError(f"the JSON object must be str, bytes or bytearray, not {type(text).__name__}")
    if text.startswith("\ufeff"):
        raise _error("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        value, end = _scan(text, start)
    except StopIteration as stop:
        raise _error("Expecting value", text, stop.value) from None
    end = len(text) - len(text[end:].lstrip(_WHITESPACE))
    if end != len(text):
        raise _error("Extra data", text, end)
    return value


def _float(value: float) -> str:
    if value != value:
        return "NaN"
    if value == _INF:
        return "Infinity"
    if value == -_INF:
        return "-Infinity"
    return float.__repr__(value)


def _key(key: object) -> str:
    """A dict key as json writes it: strings as they are, a few scalars converted, others refused."""
    if isinstance(key, str):
        return key
    if isinstance(key, float):
        return _float(key)
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, int):
        return int.__repr__(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


def _write(value: object, out: list[str], indent: str | None, level: int, seen: set[int]) -> None:
    """Append the JSON text of `value` to `out` (json.encoder's _iterencode, in plain form)."""
    if isinstance(value, str):
        out.append(_json.encode_basestring_ascii(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        out.append(_float(value))
    elif isinstance(value, (list, tuple, dict)):
        if not value:
            out.append("{}" if isinstance(value, dict) else "[]")
            return
        if id(value) in seen:
            raise ValueError("Circular reference detected")
        seen.add(id(value))
        is_dict = isinstance(value, dict)
        out.append("{" if is_dict else "[")
        if indent is None:
            separator, newline = ", ", ""
        else:
            level += 1
            separator, newline = ",", "\n" + indent * level
        first = True
        for item in value.items() if is_dict else value:
            out.append(newline if first else separator + newline)
            first = False
            if is_dict:
                out.append(_json.encode_basestring_ascii(_key(item[0])))
                out.append(": ")
                item = item[1]
            _write(item, out, indent, level, seen)
        if indent is not None:
            out.append("\n" + indent * (level - 1))
        out.append("}" if is_dict else "]")
        seen.discard(id(value))
    else:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def dumps(value: object, indent: int | str | None = None) -> str:
    """The JSON text of `value`, equal to `json.dumps(value, indent=indent)`."""
    if _json is None:
        import json
        return json.dumps(value, indent=indent)
    if indent is not None and not isinstance(indent, str):
        indent = " " * indent
    out: list[str] = []
    _write(value, out, indent, 0, set())
    return "".join(out)
