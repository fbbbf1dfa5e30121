"""`masked_json`: the text digests and history rows are made of, masked only when it must be.

It dumps the value as it is and masks only when a PIN-like key shows in the text; these tests
hold it to the plain rule, `_dumps(mask(value))`, on values with and without such keys, where
they hide, and what could look like one."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from kioskd.journal.store import PIN_KEYS, _dumps, digest, mask, masked_json

VALUES = [
    {},
    {"wagers": [{"game": "quiniela", "number": "0042", "amount": 100}], "terminal": "K1"},
    {"pin_number": 1234, "ticket_number": 5},
    {"outer": {"inner": [{"pin": "9999"}, ("x", {"token": "abc"})]}},
    {"note": 'a value that says "pin_number": 12 is not a key'},
    {"pin_number ": 1, "xpin": 2, "PIN": 3},  # look-alikes of PIN keys, not PIN keys
    {"when": dt.datetime(2026, 12, 7, 12, 0), "n": 1.5},  # written by default=str
    [{"password": "s3cret"}, {"x_auth_token": "t"}],
    ("tuple", ["of", ("tuples",)]),
    "plain text",
    7,
    None,
]


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_the_text_is_the_masked_values_dump(value: object) -> None:
    assert masked_json(value) == _dumps(mask(value))


@pytest.mark.parametrize("key", sorted(PIN_KEYS))
def test_every_pin_key_is_masked_at_any_depth(key: str) -> None:
    secret = "4711-secret"
    value = {"a": [{"b": {key: secret}}]}
    text = masked_json(value)
    assert secret not in text
    assert json.loads(text) == {"a": [{"b": {key: "****"}}]}
    assert secret not in digest(value) and digest(value) == digest({"a": [{"b": {key: "x"}}]})


def test_a_value_without_pin_keys_is_dumped_once_as_it_is() -> None:
    value = {"wagers": [{"number": "0042"}], "kind": "create"}
    assert masked_json(value) == _dumps(value)
