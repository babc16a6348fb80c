import json

import numpy as np
import pytest

from recommender.ml.common.artifacts import ArtifactError
from recommender.ml.encoders.fusion import FusionModel


def _synthetic(n=200, seed=0):
    """Items from 5 latent types; each modality is a noisy random view of the latent."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 5, n)
    centres = rng.normal(size=(5, 32))
    latent = centres[labels] + 0.6 * rng.normal(size=(n, 32))
    img = latent @ rng.normal(size=(32, 1280)) + 0.5 * rng.normal(size=(n, 1280))
    txt = latent @ rng.normal(size=(32, 512)) + 0.5 * rng.normal(size=(n, 512))
    att = np.eye(5)[labels] + 0.05 * rng.normal(size=(n, 5))
    return img.astype(np.float32), txt.astype(np.float32), att.astype(np.float32), labels


@pytest.fixture(scope="module")
def contrastive():
    img, txt, att, labels = _synthetic()
    img_list = [None if i % 4 == 0 else img[i] for i in range(len(img))]  # a quarter without photo
    return FusionModel().fit(img_list, txt, att, labels=labels, epochs=15, min_pairs=100), (img, txt, att, labels)


@pytest.mark.slow  # shares the ~10 s contrastive fit (longer on a busy machine)
def test_contrastive_output_contract(contrastive):
    model, (img, txt, att, labels) = contrastive
    assert model.mode == "contrastive"
    img_list = [None if i % 3 == 0 else img[i] for i in range(len(img))]
    out = model.transform(img_list, txt, att)
    assert out.vectors.shape == (len(img), 512) and out.vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out.vectors, axis=1), 1.0, atol=1e-5)
    assert list(out.has_image[:4]) == [False, True, True, False]
    assert out.has_text.all() and out.has_attr.all()
    assert out.parts(0) == ["text", "attr"] and out.parts(1) == ["image", "text", "attr"]


@pytest.mark.slow  # shares the ~10 s contrastive fit (longer on a busy machine)
def test_contrastive_aligns_modalities(contrastive):
    model, (img, txt, att, labels) = contrastive
    image_only = model.transform(img, None, None).vectors
    text_only = model.transform(None, txt, None).vectors
    same_type = labels[(image_only @ text_only.T).argmax(1)] == labels
    assert same_type.mean() > 0.6  # chance ~0.2


@pytest.mark.slow  # shares the ~10 s contrastive fit (longer on a busy machine)
def test_save_load_is_exact_and_versioned(contrastive, tmp_path):
    model, (img, txt, att, _) = contrastive
    version = model.save(tmp_path / "f")
    loaded = FusionModel.load(tmp_path / "f")
    assert loaded.version == version == model.version and version.startswith("fusion-contrastive@")
    np.testing.assert_array_equal(model.transform(img, txt, att).vectors, loaded.transform(img, txt, att).vectors)
    meta = json.loads((tmp_path / "f" / "meta.json").read_text())
    assert meta["dims"] == {"image": 1280, "text": 512, "attr": 5}


@pytest.mark.slow  # shares the ~10 s contrastive fit (longer on a busy machine)
def test_tampered_weights_are_refused(contrastive, tmp_path):
    model, _ = contrastive
    model.save(tmp_path / "f")
    w = tmp_path / "f" / "weights.safetensors"
    data = bytearray(w.read_bytes())
    data[-10] ^= 0xFF
    w.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="digest"):
        FusionModel.load(tmp_path / "f")


def test_pca_fallback_for_little_data():
    img, txt, att, _ = _synthetic(n=40, seed=1)
    no_photo = [None] * 40
    no_photo[:5] = list(img[:5])
    model = FusionModel().fit(no_photo, txt, att)
    assert model.mode == "pca"
    out = model.transform(no_photo, txt, att)
    assert out.vectors.shape == (40, 512)
    np.testing.assert_allclose(np.linalg.norm(out.vectors, axis=1), 1.0, atol=1e-5)
    assert out.has_image.sum() == 5
    # Deterministic: the same data gives the same weights and version.
    assert FusionModel().fit(no_photo, txt, att).version == model.version


@pytest.mark.slow  # shares the ~10 s contrastive fit (longer on a busy machine)
def test_item_with_nothing_gets_zero_vector_and_no_flags(contrastive):
    model, (img, txt, att, _) = contrastive
    out = model.transform([None], np.zeros((1, 512), np.float32), np.zeros((1, 5), np.float32))
    assert not out.has_image[0] and not out.has_text[0] and not out.has_attr[0]
    assert np.all(out.vectors[0] == 0)


@pytest.mark.slow  # shares the ~10 s contrastive fit (longer on a busy machine)
def test_dimension_mismatch_is_an_error(contrastive):
    model, (img, txt, att, _) = contrastive
    with pytest.raises(ValueError, match="384 dims"):
        model.transform(img, np.ones((len(img), 384), np.float32), att)
    with pytest.raises(ValueError, match="different lengths"):
        model.transform(img[:3], txt, att)
