"""Domain errors raised by serving and ingestion; the API turns them into 4xx JSON."""
from __future__ import annotations


class DomainError(Exception):
    status_code = 400
    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code


class NotFoundError(DomainError):
    status_code = 404
    code = "not_found"


class NotEntitledError(DomainError):
    status_code = 403
    code = "not_entitled"


class PayloadTooLargeError(DomainError):
    """A body or upload over its limit: 413, whichever path noticed it first."""

    status_code = 413
    code = "too_large"


class UnsupportedFormatError(DomainError):
    """A file in a format the operation does not take (a BMP photo, say): 415."""

    status_code = 415
    code = "unsupported_image_format"


class ServiceUnavailableError(DomainError):
    status_code = 503
    code = "unavailable"
