"""Session files on StyleGAN3 and StyleGAN-Human: a saved drag loads and continues exactly, and
a feature map of another shape is refused (the shape comes from G.feature_shape)."""

import numpy as np
import pytest

from draggan_fast import DragSession
from tests.stylegan.families_fixtures import small_human, small_stylegan3

GENERATORS = {
    "stylegan3-t": lambda: small_stylegan3(radial=False, seed=1),
    "stylegan3-r": lambda: small_stylegan3(radial=True, seed=2),
    "stylegan_human": lambda: small_human(seed=3),
}


def _dragged(G, backend):
    session = DragSession(G, seed=4, lr=0.05, r2=60, backend=backend)
    session.add_point((8, 7), (10, 9))
    session.add_point((5.5, 11), (4, 12))
    session.run(2, until_done=False, render_every=0)
    return session


@pytest.mark.parametrize("backend", ["reference", "fast"])
@pytest.mark.parametrize("family", list(GENERATORS))
def test_a_saved_session_continues_exactly_on_every_family(tmp_path, family, backend):
    G = GENERATORS[family]()
    session = _dragged(G, backend)
    references = session.state_dict()["references"]
    assert references is not None
    index = session.config.feature_block
    assert tuple(references["feature_map"].shape) == (1, *G.feature_shape(index))
    session.save(tmp_path / "drag.json")

    loaded = DragSession.load(tmp_path / "drag.json", G)
    np.testing.assert_array_equal(loaded.w, session.w)
    np.testing.assert_array_equal(loaded.handles, session.handles)
    assert loaded.config == session.config and loaded.step_count == 2
    expected, result = session.step(), loaded.step()
    np.testing.assert_array_equal(result.handles, expected.handles)
    np.testing.assert_array_equal(loaded.w, session.w)


@pytest.mark.parametrize("family", list(GENERATORS))
def test_a_feature_map_of_another_shape_is_refused(tmp_path, family):
    G = GENERATORS[family]()
    _dragged(G, "reference").save(tmp_path / "s.json")
    with np.load(tmp_path / "s.npz") as archive:
        arrays = {key: archive[key] for key in archive.files}
    channels, height, width = G.feature_shape(DragSession(G).config.feature_block)
    arrays["references/feature_map"] = np.zeros([1, channels, height, width + 1], np.float32)
    np.savez(tmp_path / "s.npz", **arrays)
    with pytest.raises(ValueError, match=r"references/feature_map is .* block's"):
        DragSession.load(tmp_path / "s.json", G)
