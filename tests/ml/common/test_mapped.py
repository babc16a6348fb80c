"""Arrays shared through a memory-mapped file: saved once by digest, refused when damaged."""
import json

import numpy as np
import pytest

from recommender.ml.common.mapped import (
    ARRAY_FILE,
    META_FILE,
    MappedArrayError,
    array_digest,
    mapped_load,
    mapped_save,
)


@pytest.fixture
def saved(tmp_path):
    array = np.random.default_rng(0).standard_normal((300, 16)).astype(np.float32)
    key = array_digest(array)
    return array, key, mapped_save(array, tmp_path / key, key)


def test_a_saved_array_loads_as_a_read_only_mapping_of_the_same_values(saved):
    array, key, folder = saved
    loaded = mapped_load(folder, key)
    assert isinstance(loaded, np.memmap)
    np.testing.assert_array_equal(loaded, array)
    assert loaded.dtype == np.float32 and loaded.shape == (300, 16)
    with pytest.raises(ValueError):
        loaded[0, 0] = 1.0  # shared between processes: nobody may write through it


def test_the_digest_follows_content_dtype_and_shape():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert array_digest(a) == array_digest(a.copy())
    assert array_digest(a) != array_digest(a.reshape(4, 3))
    assert array_digest(a) != array_digest(a.astype(np.float64))
    b = a.copy()
    b[2, 3] += 1
    assert array_digest(a) != array_digest(b)


def test_saving_a_key_twice_keeps_the_first_copy(saved, tmp_path):
    array, key, folder = saved
    again = mapped_save(array, folder, key)
    assert again == folder
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left
    np.testing.assert_array_equal(mapped_load(folder, key), array)


def test_a_corrupt_file_is_refused_naming_the_folder(saved):
    _, key, folder = saved
    data = bytearray((folder / ARRAY_FILE).read_bytes())
    data[-5] ^= 0xFF
    (folder / ARRAY_FILE).write_bytes(bytes(data))
    with pytest.raises(MappedArrayError, match=f"{folder}.*corrupt"):
        mapped_load(folder, key)


def test_a_missing_file_or_meta_is_refused(saved):
    _, key, folder = saved
    (folder / ARRAY_FILE).unlink()
    with pytest.raises(MappedArrayError, match="missing"):
        mapped_load(folder, key)
    (folder / META_FILE).unlink()
    with pytest.raises(MappedArrayError, match="unreadable"):
        mapped_load(folder, key)


def test_another_arrays_folder_or_a_lying_meta_is_refused(saved):
    _, key, folder = saved
    with pytest.raises(MappedArrayError, match="another array"):
        mapped_load(folder, "0" * 32)
    meta = json.loads((folder / META_FILE).read_text())
    meta["shape"] = [150, 32]
    (folder / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(MappedArrayError, match="says"):
        mapped_load(folder, key)
    (folder / META_FILE).write_text(json.dumps({"format": "something else"}))
    with pytest.raises(MappedArrayError, match="not a mapped array"):
        mapped_load(folder, key)
