"""Journal identity and the technician's `kioskd journal check|recover|init` (real SQLite files)."""

from __future__ import annotations

import os

from kioskd.cli import main
from kioskd.journal import identity
from kioskd.journal.store import Journal


def made(tmp_path):
    """A journal created the way the daemon creates one (identity inside and beside)."""
    path = str(tmp_path / "journal.sqlite3")
    found = identity.inspect(path)  # before SQLite creates anything, as the daemon does
    j = Journal(path)
    ident = identity.settle(j, path, found, now=1_700_000_000.0)
    j.add("create", {"wagers": []}, amount=10, deadline=2e9, now=1.0, state="queued")
    return path, j, ident


def made_closed(tmp_path):
    """`made`, with the journal closed again (as after the daemon stopped)."""
    path, j, ident = made(tmp_path)
    j.close()
    return path, ident


def test_a_new_journal_gets_an_identity_inside_and_beside(tmp_path):
    path, j, ident = made(tmp_path)
    assert identity.inside(j).id == ident.id == identity.read_identity(path).id
    assert not ident.confirmed and ident.how == "created"
    assert identity.inspect(path).verdict == "known"
    j.close()


def test_missing_empty_and_replaced_journals_are_problems(tmp_path):
    path, ident = made_closed(tmp_path)
    os.rename(path, path + ".away")
    assert "is missing" in identity.inspect(path).problem
    open(path, "wb").close()
    assert "is empty" in identity.inspect(path).problem
    os.unlink(path)
    other = Journal(path)  # a different journal put in its place
    found = identity.inspect(path)
    try:
        identity.settle(other, path, found, now=2.0)
        raise AssertionError("a replaced journal was accepted")
    except ValueError as exc:
        assert "was replaced" in str(exc) and ident.id[:8] in str(exc)
    other.close()


def test_a_journal_without_identity_is_adopted_once(tmp_path):
    path = str(tmp_path / "journal.sqlite3")
    Journal(path).close()
    found = identity.inspect(path)
    assert found.verdict == "adopt"
    j = Journal(path)
    ident = identity.settle(j, path, found, now=3.0)
    assert ident.how == "adopted" and ident.confirmed
    j.close()


def test_init_needs_force_and_is_audited_keeping_the_old_files(tmp_path, capsys):
    path, ident = made_closed(tmp_path)
    assert main(["journal", "init", "--journal", path]) == 2
    assert "--force" in capsys.readouterr().out
    assert main(["journal", "init", "--force", "--journal", path, "--reason", "disk swap"]) == 0
    assert "audited" in capsys.readouterr().out
    assert [p for p in os.listdir(tmp_path) if ".replaced-" in p]
    new = identity.read_identity(path)
    assert new.how == "initialised" and new.previous == ident.id
    j = Journal(path)
    (note,) = [h for h in j.history() if h.kind == "operator"]
    assert note.detail["previous"] == ident.id and note.detail["reason"] == "disk swap"
    assert "uid=" in note.detail["by"]
    assert j.operations() == []
    j.close()


def test_check_says_ok_or_what_is_wrong(tmp_path, capsys):
    path, _ident = made_closed(tmp_path)
    assert main(["journal", "check", "--journal", path]) == 0
    assert "journal ok" in capsys.readouterr().out
    with open(path + "-wal", "wb") as f:
        f.write(b"\xde\xad" * 32)
    assert main(["journal", "check", "--journal", path]) == 1
    out = capsys.readouterr().out
    assert "garbled header" in out and "needs attention" in out


def test_recover_salvages_rows_around_a_truncation(tmp_path, capsys):
    path, j, ident = made(tmp_path)
    for n in range(300):
        j.note(None, "note", now=float(n), detail={"n": n, "pad": "x" * 200})
    j.checkpoint()
    j.close()
    os.truncate(path, os.path.getsize(path) * 2 // 3)
    assert main(["journal", "recover", "--journal", path]) == 0
    out = capsys.readouterr().out
    assert "recovered into a new journal" in out and "kept as" in out
    rec = identity.read_identity(path)
    assert rec.how == "recovered" and rec.previous == ident.id
    j = Journal(path)
    assert len(j.operations()) == 1
    notes = [h for h in j.history() if h.kind == "note"]
    assert 0 < len(notes) < 300
    salvage = [h for h in j.history() if h.kind == "operator" and "salvaged" in h.detail]
    counts = salvage[0].detail["salvaged"]  # rows per table, as the recover output says
    assert counts["operations"] == len(j.operations()) == 1
    salvaged_notes = [h for h in notes if h.detail.get("pad")]
    assert len(salvaged_notes) == len(notes) and len(notes) <= counts["history"] < 300 + 10
    assert f"history {counts['history']}" in out
    j.close()
