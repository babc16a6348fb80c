import shutil
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from recommender.ml.common.artifacts import pointer_read
from recommender.artifacts import heuristic_root
from recommender.models import ModelVersion
from recommender.serving.api_keys import api_key_create
from tests.serving.test_blend_serving import blend_shop  # noqa: F401 - shared fixture


@pytest.fixture
def trained(blend_shop, tmp_path):
    """A ready 'trained' version: the heuristic build's blend saved as a version folder (a real
    artefact that loads and serves, under its own name)."""
    folder = tmp_path / "versions" / "blend-test"
    shutil.copytree(Path(pointer_read(heuristic_root())["path"]), folder / "blend")
    return ModelVersion.objects.create(name="blend-test", model_type="blend", status=ModelVersion.Status.READY,
                                       artifact_dir=str(folder))


@pytest.fixture
def storefront(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_key_create(name='shop', scopes=['read', 'events']).secret}")
    return client
