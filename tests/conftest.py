"""Shared fixtures. Each area keeps its fixtures in tests/fixtures/<area>.py, listed here."""

pytest_plugins = [
    "tests.fixtures.common",
    "tests.fixtures.standin",
    "tests.fixtures.exports",
    "tests.fixtures.backend",
    "tests.fixtures.drafting",
    "tests.fixtures.labelstudio",
    "tests.fixtures.report",
    "tests.fixtures.training",
    "tests.fixtures.postgres",
    "tests.fixtures.browser",
    "tests.fixtures.writers",
]
