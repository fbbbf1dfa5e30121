import pytest

from kioskd.counter.keymap import ACTIONS, Keymap, KeymapError


def test_default_keymap_reads_evdev_keysym_and_characters():
    km = Keymap()
    assert km.action("KEY_KPPLUS") == km.action("KP_Add") == km.action("+") == "sell"
    assert km.action("KEY_KP7") == km.action("KP_7") == "7"
    assert km.action("KEY_KPENTER") == "enter"
    assert km.action("KEY_KPDOT") == "dot"
    assert km.action("KEY_NUMLOCK") is None


def test_remap_replaces_only_that_action():
    km = Keymap.from_config({"sell": ["KEY_F1"], "enter": "KEY_F2"})
    assert km.action("KEY_F1") == "sell"
    assert km.action("KEY_KPPLUS") is None
    assert km.action("KEY_F2") == "enter"
    assert km.action("KEY_KPMINUS") == "cancel"
    assert km.keys("sell") == ("KEY_F1",)


def test_unknown_action_is_named():
    with pytest.raises(KeymapError, match="'sel'"):
        Keymap.from_config({"sel": "KEY_F1"})


def test_key_bound_twice_is_named():
    with pytest.raises(KeymapError, match=r"'KEY_KPMINUS' is bound to both 'sell' and 'cancel'"):
        Keymap.from_config({"sell": "KEY_KPMINUS"})


@pytest.mark.parametrize("bad", [[], [""], 3])
def test_bad_binding_values(bad):
    with pytest.raises(KeymapError, match=r"keymap\.escape"):
        Keymap.from_config({"escape": bad})


def test_every_action_has_a_default_key():
    km = Keymap()
    for action in ACTIONS:
        assert km.keys(action)
