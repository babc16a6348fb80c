"""Public entry points of the importers (the code lives in ``recommender.catalog.importing``)."""
from .importing.catalog_file import (  # noqa: F401
    CATALOG_COLUMNS,
    EVENT_COLUMNS,
    import_catalog_file,
    import_catalog_with_photos,
    import_events_file,
)
from .importing.hm_sample import import_hm_sample  # noqa: F401
from .importing.report import ImportReport, RowError  # noqa: F401
