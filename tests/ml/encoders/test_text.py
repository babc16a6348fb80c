import numpy as np
import pytest

from recommender.ml.encoders.text import get_text_encoder


def _cos(a, b):
    return float(a @ b)


@pytest.fixture(scope="module")
def use_encoder():
    return get_text_encoder("use-multilingual")


@pytest.mark.slow
def test_minilm_similar_sentences_are_closer():
    enc = get_text_encoder("minilm")
    v = enc.encode(["Gold-coloured hoop earrings", "Golden hoop earrings in metal", "Black trousers in woven fabric"])
    assert v.shape == (3, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert _cos(v[0], v[1]) > _cos(v[0], v[2]) + 0.2
    # Batching and length-sorting do not change a text's vector.
    np.testing.assert_allclose(enc.encode(["Black trousers in woven fabric"])[0], v[2], atol=1e-5)


def test_multilingual_puts_chinese_next_to_english(use_encoder):
    v = use_encoder.encode(["金色耳环", "gold earrings", "black trousers", "我想要银色的项链", "silver necklace"])
    assert v.shape == (5, 512)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert _cos(v[0], v[1]) > _cos(v[0], v[2]) + 0.3
    assert _cos(v[3], v[4]) > _cos(v[3], v[2]) + 0.2


def test_empty_batch_and_bad_input(use_encoder):
    assert use_encoder.encode([]).shape == (0, 512)
    with pytest.raises(TypeError, match="sequence of strings"):
        use_encoder.encode("a single string")
    with pytest.raises(TypeError, match="text 1"):
        use_encoder.encode(["ok", None])


def test_factory_names_and_versions(use_encoder):
    assert get_text_encoder("use-multilingual") is use_encoder
    assert use_encoder.version.startswith("use-multilingual")
    with pytest.raises(ValueError, match="unknown text encoder"):
        get_text_encoder("bert-large")
