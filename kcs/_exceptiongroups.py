"""Finding the error to report inside the exception groups that task groups raise."""

from __future__ import annotations

__all__ = ["find_error"]


def find_error(exc: BaseException, types: tuple[type[BaseException], ...]) -> BaseException | None:
    """``exc`` itself if it is one of ``types``, else the first such exception inside it
    (depth first through nested exception groups), else ``None``."""
    if isinstance(exc, types):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = find_error(inner, types)
            if found is not None:
                return found
    return None
