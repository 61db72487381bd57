"""The annotators' labeling config and the control names everything else relies on."""

from importlib import resources

OBJECT = "brief"
DRAFT = "draft"
RATING = "rating"
ISSUES = "issues"
FEEDBACK = "feedback"
FINAL = "final"
CONFIDENCE = "confidence"  # read-only: the draft's score and why (redraft.scoring.confidence)

ISSUE_TAGS = (
    "tone",
    "voice",
    "structure",
    "too long",
    "too short",
    "personalisation",
    "call to action",
    "factual error",
    "grammar",
    "off-brief",
)


def read_label_config() -> str:
    """Return the labeling config XML shipped with redraft."""
    return resources.files(__name__).joinpath("redraft.xml").read_text("utf-8")
