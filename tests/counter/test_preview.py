"""`kioskd preview` writes one real PNG per slip kind."""

import pytest

from kioskd.cli import main
from kioskd.counter.slips import SLIP_KINDS
from kioskd.proving.fakes import samples

Image = pytest.importorskip("PIL.Image", reason="Pillow renders the PNG previews")


@pytest.mark.parametrize(("lang", "paper"), [("es", 58), ("en", 80)])
def test_preview_writes_a_png_per_slip(tmp_path, capsys, lang, paper):
    assert main(["preview", "--out", str(tmp_path), "--lang", lang, "--paper", str(paper)]) == 0
    names = sorted(p.stem for p in tmp_path.glob("*.png"))
    assert names == sorted(samples.all_slips(lang))
    kinds = {r.kind for r in samples.all_slips(lang).values()}
    assert kinds == set(SLIP_KINDS)  # a sample of every slip kind
    widths = set()
    for path in tmp_path.glob("*.png"):
        with Image.open(path) as image:
            assert image.format == "PNG" and image.height > 100
            widths.add(image.width)
    assert len(widths) == 1  # one paper width for all
    assert str(tmp_path / "ticket.png") in capsys.readouterr().out
