"""Domain errors. The CLI turns each into one line: what failed, why, what to do."""


class RedraftError(Exception):
    """Base class for every error redraft reports to a user without a traceback."""


class ConfigError(RedraftError):
    """A setting is missing or invalid; the message names the variable and the fix."""


class TemplateError(RedraftError):
    """The prompt template file cannot be read or is malformed."""


class TaskDataError(RedraftError):
    """A task's data cannot be turned into a prompt (for example: no brief)."""


class LabelStudioError(RedraftError):
    """Label Studio cannot be started, reached, or refused a request."""


class ProjectNotFoundError(LabelStudioError):
    """`--project` names no project in Label Studio, or is needed because there are several."""


class BriefImportError(RedraftError):
    """A briefs file cannot be read or holds invalid rows; nothing was imported."""


class LocalModelError(RedraftError):
    """The local model cannot be found, converted or served; the message says how to fix it."""
