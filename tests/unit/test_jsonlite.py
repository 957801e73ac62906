"""fire.jsonlite must read and write exactly what json does (it replaces json on the
engine path to avoid importing re)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fire import jsonlite

scalars = st.none() | st.booleans() | st.integers() | st.text() | st.floats(allow_nan=False)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(), inner, max_size=4), max_leaves=20)


@given(values)
def test_dumps_is_json_dumps(value: object) -> None:
    assert jsonlite.dumps(value) == json.dumps(value, separators=(",", ":"))
    assert jsonlite.dumps(value, compact=False) == json.dumps(value)
    assert jsonlite.dumps(value, indent=2) == json.dumps(value, indent=2)


@given(values)
def test_loads_is_json_loads(value: object) -> None:
    text = json.dumps(value, indent=1)
    assert jsonlite.loads(text) == json.loads(text)
    assert jsonlite.loads(f" \n{text}\t ".encode()) == value


def test_non_string_keys_as_json() -> None:
    value = {1: "a", 2.5: "b", False: "c", None: "d"}
    assert jsonlite.dumps(value, indent=2) == json.dumps(value, indent=2)


@pytest.mark.parametrize("bad", ["", "   ", "{", '{"a":1} x', "[1,]", "nul", '"\x01"'])
def test_malformed_raises_value_error(bad: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - json's own error type is a ValueError
        json.loads(bad)
    with pytest.raises(ValueError):  # noqa: PT011
        jsonlite.loads(bad)


def test_malformed_is_a_value_error_without_json_imported() -> None:
    """The C scanner finds its error class only when json.decoder is imported: in a
    light command it is not (this test process has imported json, so check in a
    fresh interpreter)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(jsonlite.__file__)))
    code = (f"import sys; sys.path.insert(0, {root!r}); from fire import jsonlite\n"
            "for bad in ['{not json', '[1,]', '{\"a\": tru}', '\"\\x01\"', '{\"a\":1} x', '']:\n"
            "    try:\n"
            "        jsonlite.loads(bad)\n"
            "    except ValueError:\n"
            "        print('ValueError')\n")
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True,
                         text=True, check=True)
    assert out.stdout.split() == ["ValueError"] * 6, out.stderr


def test_unserializable_raises_type_error() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        jsonlite.dumps({"a": object()})


def test_imports_neither_json_nor_re() -> None:
    root = os.path.dirname(os.path.dirname(os.path.abspath(jsonlite.__file__)))
    code = (f"import sys; sys.path.insert(0, {root!r}); import fire.jsonlite; "
            "print(sorted({'json', 're'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "[]"
