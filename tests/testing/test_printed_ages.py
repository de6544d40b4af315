"""Ages in tables, as kube's ``duration.HumanDuration`` prints them (kubectl's AGE column)."""

from __future__ import annotations

import pytest

from kcs.testing._printers import human_duration

pytestmark = pytest.mark.timeout(10)

_M, _H, _D = 60, 3600, 86400


@pytest.mark.parametrize(("seconds", "printed"), [
    (-2, "<invalid>"), (-1, "0s"), (0, "0s"), (1, "1s"), (119, "119s"),
    (120, "2m"), (190, "3m10s"), (599, "9m59s"), (600, "10m"), (70 * _M + 30, "70m"),
    (3 * _H - 1, "179m"), (3 * _H, "3h"), (7 * _H + 59 * _M, "7h59m"), (8 * _H + 5 * _M, "8h"),
    (47 * _H + 59 * _M, "47h"), (48 * _H, "2d"), (49 * _H, "2d1h"), (8 * _D - 1, "7d23h"),
    (8 * _D + 2 * _H, "8d"), (367 * _D, "367d"), (2 * 365 * _D, "2y"),
    (2 * 365 * _D + 25 * _H, "2y1d"), (8 * 365 * _D + 2 * _H, "8y"), (100 * 365 * _D, "100y"),
    (90.9, "90s"),
])
def test_ages_are_printed_as_kube_prints_them(seconds: float, printed: str) -> None:
    assert human_duration(seconds) == printed
