"""Fixtures shared by every test folder."""
from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings as django_settings


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    """Every test writes photos into its own folder, so tests can assert on what is on disk."""
    media = tmp_path / "media"
    media.mkdir()
    settings.MEDIA_ROOT = media
    # FileSystemStorage caches its location; the ``setting_changed`` signal resets it.
    yield media


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """``settings.JEWELREC_DATA_DIR``. The data is always present in CI, so a missing folder fails."""
    path = Path(django_settings.JEWELREC_DATA_DIR)
    if not (path / "hm-jewelry" / "articles.parquet").exists():
        pytest.fail(f"sample data missing: {path}/hm-jewelry/articles.parquet (set JEWELREC_DATA_DIR)")
    return path


@pytest.fixture(scope="session")
def hm_dir(data_dir) -> Path:
    return data_dir / "hm-jewelry"


@pytest.fixture
def tiers(db):
    from recommender.catalog.services import tiers_ensure

    return tiers_ensure()


@pytest.fixture(autouse=True)
def _impressions_buffer():
    """Impressions buffered by one test's requests must not be written inside the next test's
    transaction (they would name experiments and customers that test never had)."""
    from recommender.impressions.log import impressions_buffer_clear

    impressions_buffer_clear()
    yield
    impressions_buffer_clear()
