"""Drag settings a user leaves unset come from the model (its file's `drag_settings`), else the
official defaults; the session says which apply. And the README's API snippet, run as written
on the bundled model, reaches its target with those defaults."""

import re
from pathlib import Path

import pytest

from draggan_fast import DragSession
from draggan_fast.session.inputs import OFFICIAL_DRAG_SETTINGS
from tests.session.conftest import tiny_generator

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture
def recommending_G():
    G = tiny_generator()
    G.drag_settings = {"lr": 0.02, "lambda_mask": 2.0}  # as load_generator puts them
    return G


def _settings(session):
    return {k: session.hyperparameters[k] for k in OFFICIAL_DRAG_SETTINGS}


def test_a_model_without_recommendations_gets_the_official_settings(tiny_G):
    session = DragSession(tiny_G)
    assert _settings(session) == {"lr": 1e-3, "lambda_mask": 20.0, "r1": 3.0, "r2": 12.0}
    assert set(session.settings_source.values()) == {"official"}
    assert session.config.lambda_mask == 20.0


def test_unset_settings_come_from_the_model_and_given_ones_win(recommending_G):
    session = DragSession(recommending_G, r2=6)
    assert _settings(session) == {"lr": 0.02, "lambda_mask": 2.0, "r1": 3.0, "r2": 6.0}
    assert session.settings_source == {
        "lr": "model", "lambda_mask": "model", "r1": "official", "r2": "given"
    }  # fmt: skip
    assert session.config.lambda_mask == 2.0
    assert session._optimizer.param_groups[0]["lr"] == 0.02  # the optimizer uses it
    assert session.describe_settings() == (
        "lr 0.02 (model), lambda_mask 2 (model), r1 3 (official), r2 6 (given)"
    )
    given = DragSession(recommending_G, lr=0.001, lambda_mask=20)
    assert (given.hyperparameters["lr"], given.hyperparameters["lambda_mask"]) == (0.001, 20)
    assert given.settings_source["lr"] == given.settings_source["lambda_mask"] == "given"


def test_configure_marks_what_it_changes_as_given(recommending_G):
    session = DragSession(recommending_G)
    session.configure(lambda_mask=5, tracking="l1")
    assert session.settings_source["lambda_mask"] == "given"
    assert session.settings_source["lr"] == "model"


def test_bad_given_values_still_fail_naming_the_setting(recommending_G):
    with pytest.raises(ValueError, match="lr must be > 0"):
        DragSession(recommending_G, lr=-1)


def test_a_saved_session_keeps_the_settings_it_ran_with(recommending_G, tmp_path):
    session = DragSession(recommending_G)
    session.save(tmp_path / "drag.json")
    loaded = DragSession.load(tmp_path / "drag.json", recommending_G)
    assert _settings(loaded) == _settings(session)


def test_the_readme_api_snippet_reaches_its_target_on_the_bundled_model(
    tmp_path, monkeypatch, capsys
):
    snippet = re.search(r"## Python API\n\n```python\n(.*?)```", README.read_text(), re.S)[1]
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(snippet, str(README), "exec"), namespace)  # the README's code, as written
    result, session = namespace["result"], namespace["session"]
    assert result.done, f"{result.distances} px left after {result.step} steps"
    assert result.step <= 200 and max(result.distances) <= session.hyperparameters["stop_distance"]
    assert session.movable_mask is not None  # a masked drag: lambda_mask matters
    assert session.settings_source == dict.fromkeys(OFFICIAL_DRAG_SETTINGS, "model")
    assert "lr 0.005 (model), lambda_mask 1 (model)" in capsys.readouterr().out
    assert (tmp_path / "drag.json").is_file()
