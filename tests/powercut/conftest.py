import pytest

from kioskd.proving.campaigns.powercut.mount import PowerCutMount, fuse_unavailable

WHY = fuse_unavailable()
needs_fuse = pytest.mark.skipif(WHY is not None, reason=f"power-cut tests need FUSE: {WHY}")


@pytest.fixture
def pcmount(tmp_path):
    if WHY is not None:
        pytest.skip(f"power-cut tests need FUSE: {WHY}")
    m = PowerCutMount(tmp_path / "backing", tmp_path / "mnt")
    try:
        yield m.mount()
    finally:
        m.unmount()
