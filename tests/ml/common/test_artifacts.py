"""Artifact folders: what is written is what loads, and nothing broken loads."""
import json

import numpy as np
import pytest

from recommender.ml.common.artifacts import (
    META_FILE,
    WEIGHTS_FILE,
    ArtifactError,
    load_artifact,
    pointer_read,
    pointer_write,
    save_artifact,
    tensors_digest,
)


def test_save_then_load_round_trips_with_kind_and_digest(tmp_path):
    tensors = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "ids": np.array([3, 1], np.int64)}
    digest = save_artifact(tmp_path / "a", "fusion", tensors, {"dim": 3})
    loaded, meta = load_artifact(tmp_path / "a", "fusion")
    assert meta["kind"] == "fusion" and meta["dim"] == 3 and meta["digest"] == digest == tensors_digest(tensors)
    np.testing.assert_array_equal(loaded["w"], tensors["w"])
    assert not list((tmp_path / "a").glob("*.tmp"))  # no temporary file left behind


def test_the_digest_depends_on_names_shapes_and_bytes():
    a = {"w": np.zeros((2, 3), np.float32)}
    assert tensors_digest(a) != tensors_digest({"v": np.zeros((2, 3), np.float32)})
    assert tensors_digest(a) != tensors_digest({"w": np.zeros((3, 2), np.float32)})
    assert tensors_digest(a) != tensors_digest({"w": np.ones((2, 3), np.float32)})


def test_wrong_kind_missing_files_tampered_weights_and_bad_json_are_refused(tmp_path):
    save_artifact(tmp_path / "a", "fusion", {"w": np.ones(4, np.float32)}, {})
    with pytest.raises(ArtifactError, match="expected 'adapter'"):
        load_artifact(tmp_path / "a", "adapter")
    with pytest.raises(ArtifactError, match="expected"):
        load_artifact(tmp_path / "missing", "fusion")
    save_artifact(tmp_path / "b", "fusion", {"w": np.zeros(4, np.float32)}, {})
    (tmp_path / "a" / WEIGHTS_FILE).write_bytes((tmp_path / "b" / WEIGHTS_FILE).read_bytes())
    with pytest.raises(ArtifactError, match="digest"):
        load_artifact(tmp_path / "a", "fusion")
    (tmp_path / "b" / META_FILE).write_text("{not json")
    with pytest.raises(ArtifactError, match="unreadable metadata"):
        load_artifact(tmp_path / "b", "fusion")
    (tmp_path / "b" / META_FILE).write_text(json.dumps({"kind": "fusion", "digest": "x"}))
    (tmp_path / "b" / WEIGHTS_FILE).write_bytes(b"\x00garbage")
    with pytest.raises(ArtifactError, match="unreadable weights"):
        load_artifact(tmp_path / "b", "fusion")


def test_the_pointer_names_what_was_published_or_nothing(tmp_path):
    assert pointer_read(tmp_path / "root") is None
    pointer_write(tmp_path / "root", {"name": "v1", "path": "/x/v1"})
    pointer_write(tmp_path / "root", {"name": "v2", "path": "/x/v2"})
    assert pointer_read(tmp_path / "root") == {"name": "v2", "path": "/x/v2"}
    (tmp_path / "root" / "CURRENT.json").write_text("{half")
    assert pointer_read(tmp_path / "root") is None


def test_a_folder_in_the_older_ranker_layout_still_loads(tmp_path):
    from safetensors.numpy import save_file

    (tmp_path / "old").mkdir()
    save_file({"w": np.ones(3, np.float32)}, str(tmp_path / "old" / WEIGHTS_FILE))
    (tmp_path / "old" / "metadata.json").write_text(json.dumps({"model_type": "popularity", "n": 3}))
    tensors, meta = load_artifact(tmp_path / "old", "popularity")
    assert meta == {"kind": "popularity", "n": 3} and tensors["w"].tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(ArtifactError, match="expected 'xdeepfm'"):
        load_artifact(tmp_path / "old", "xdeepfm")
