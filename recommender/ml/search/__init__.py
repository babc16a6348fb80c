"""Vector search and query understanding for text/visual search (pure numpy)."""
from .index import VectorIndex
from .query import ParsedQuery, parse_query

__all__ = ["ParsedQuery", "VectorIndex", "parse_query"]
