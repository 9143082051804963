"""The test suite's own arrangements: under ``pytest -n N`` the tests of one ``xdist_group`` run on
one worker, so that the comparisons they share are built once (see ``addopts`` in pyproject.toml)."""

from __future__ import annotations

import pytest


@pytest.mark.xdist_group("suite-check")
def test_grouped_tests_are_scheduled_as_a_group(request: pytest.FixtureRequest) -> None:
    """pytest-xdist's ``loadgroup`` sends a group to one worker by the ``@group`` suffix it puts
    on the test's id; a pytest whose node ids ignore the suffix (9.2) undoes it silently."""
    if getattr(request.config, "workerinput", None) is None:
        pytest.skip("not under pytest-xdist")
    assert request.node.nodeid.endswith("@suite-check"), request.node.nodeid
