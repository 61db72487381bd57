"""Errors of the report and A/B area; each message says what failed, why, and what to do."""

from redraft.errors import RedraftError


class ReportInputError(RedraftError):
    """The report's source (export file, export folder, project) cannot be read."""


class CompareError(RedraftError):
    """Two versions cannot be compared as asked (for example: a version has no records)."""


class JudgeError(RedraftError):
    """A judge model's answer is not a usable 1-5 score."""


class ABError(RedraftError):
    """A blind A/B project cannot be created or analysed as asked."""
