"""Merchandiser pages, one module per page. Views are thin: they call selectors and services."""
