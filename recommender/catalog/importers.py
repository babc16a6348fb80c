"""Public entry points of the importers (the code lives in ``recommender.catalog.importing``)."""
from .importing.catalog_file import (  # noqa: F401
    CATALOG_COLUMNS,
    import_catalog_file,
    import_catalog_with_photos,
)
from .importing.events_file import EVENT_COLUMNS, import_events_file  # noqa: F401
from .importing.hm_sample import import_hm_sample  # noqa: F401
from .importing.report import ImportReport, RowError  # noqa: F401
