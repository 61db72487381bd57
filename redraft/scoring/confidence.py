"""How likely a draft is sent as is: a 0-1 score per draft, its parts and a short reason (pure).

The score estimates how little a writer will change the draft (1 = sent as is, 0 = rewritten)
from signals redraft has at drafting time:

- structure: subject line, greeting, sign-off, the recipient's name and company present, a
  sensible length (40-250 words);
- learned rules: how many of the client's learned style rules the draft follows
  (`redraft.styles.check.follows`), when the version's template has any, and about how much
  of the draft those rules would change (`redraft.styles.check.edit_for`: a rough count of
  the characters, as a share of the draft) — the signal that means the same thing for every
  model version, so a fit made on one version's drafts still ranks the next one's. Rules on
  the email's parts (greeting, sign-off, a sentence, P.S., subject, length) and rules on
  phrases (avoid, replace) are two signals: phrases mined from deletions are the noisier
  kind (a phrase also disappears when its whole sentence is cut), and the fit weighs each
  by what the project's writers did;
- token confidence: the model's own mean token probability, exp(mean log-probability), where
  the endpoint returns log-probabilities;
- truncated: the model stopped at max_tokens.

With no history, the score is a fixed weighted mean of the signals present (`prior_score`).
Once a project has annotations, `fit_calibration` fits a small least-squares model (signals ->
the writers' actual edit distance) at each `redraft export`; the score is then 1 - the
predicted edit distance. The fitted model is a few numbers in JSON (`Calibration`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from redraft.emailparts import parse_email
from redraft.prompting import LearnedNote
from redraft.styles.check import edit_for
from redraft.styles.mining import recipient_fields

MIN_WORDS, MAX_WORDS = 40, 250
MIN_FIT = 10  # fewer annotated drafts than this: the prior is used instead of a fit
RIDGE = 0.1  # keeps the fit stable with few or collinear rows
FEATURES = (
    "intercept",
    "structure",
    "rules",
    "rules_keep",
    "phrases_keep",
    "tokens",
    "has_tokens",
    "truncated",
)
# The no-history score: weights of the signals present (renormalised over those present).
# Phrase rules count half: the noisier kind (see above).
PRIOR_WEIGHTS = {
    "structure": 0.4,
    "rules": 0.3,
    "rules_keep": 0.3,
    "phrases_keep": 0.15,
    "tokens": 0.3,
}
PHRASE_KINDS = frozenset({"avoid", "replace"})


@dataclass(frozen=True)
class Signals:
    """What the score is made of, for one draft."""

    structure: float  # share of the structure checks passed
    missing: tuple[str, ...] = ()  # the structure checks that failed
    rules_followed: int = 0
    rules_checked: int = 0
    token_confidence: float | None = None  # exp(mean token log-probability); None: not given
    truncated: bool = False
    rule_edit: float | None = None  # share of the draft the learned part rules would change
    phrase_edit: float | None = None  # share of it the learned phrase rules would change

    @property
    def rules_keep(self) -> float | None:
        """Share of the draft the learned part rules leave as it is; None without them."""
        return None if self.rule_edit is None else 1.0 - self.rule_edit

    @property
    def phrases_keep(self) -> float | None:
        """Share of the draft the learned phrase rules leave as it is; None without them."""
        return None if self.phrase_edit is None else 1.0 - self.phrase_edit

    @property
    def rule_share(self) -> float | None:
        """Share of the checked learned rules the draft follows; None without rules."""
        return self.rules_followed / self.rules_checked if self.rules_checked else None

    def features(self) -> list[float]:
        """The fit's inputs, in FEATURES order (a missing signal counts as neutral).

        >>> Signals(0.5, rules_followed=1, rules_checked=2, rule_edit=0.25).features()
        [1.0, 0.5, 0.5, 0.75, 1.0, 0.0, 0.0, 0.0]
        """
        rules, keep, phrases = self.rule_share, self.rules_keep, self.phrases_keep
        return [
            1.0,
            self.structure,
            1.0 if rules is None else rules,
            1.0 if keep is None else keep,
            1.0 if phrases is None else phrases,
            self.token_confidence or 0.0,
            0.0 if self.token_confidence is None else 1.0,
            1.0 if self.truncated else 0.0,
        ]

    def as_json(self) -> dict[str, Any]:
        """JSON-ready, as stored with the prediction.

        >>> Signals(1.0, token_confidence=0.9).as_json()["token_confidence"]
        0.9
        """
        values = asdict(self)
        values["missing"] = list(self.missing)
        return values

    @classmethod
    def from_json(cls, value: Any) -> Signals | None:
        """Signals from `as_json`'s output; None when it is not that shape.

        >>> Signals.from_json(Signals(0.8, ("sign-off",)).as_json())
        Signals(structure=0.8, missing=('sign-off',), rules_followed=0, rules_checked=0, \
token_confidence=None, truncated=False, rule_edit=None, phrase_edit=None)
        >>> Signals.from_json({"structure": "x"}) is None
        True
        """
        if not isinstance(value, Mapping):
            return None
        try:
            structure = float(value["structure"])
            token = value.get("token_confidence")
            # Absent from signals stored before they existed.
            edit, phrase = value.get("rule_edit"), value.get("phrase_edit")
            return cls(
                structure=structure,
                missing=tuple(str(m) for m in value.get("missing") or ()),
                rules_followed=int(value.get("rules_followed") or 0),
                rules_checked=int(value.get("rules_checked") or 0),
                token_confidence=None if token is None else float(token),
                truncated=bool(value.get("truncated")),
                rule_edit=None if edit is None else float(edit),
                phrase_edit=None if phrase is None else float(phrase),
            )
        except (KeyError, TypeError, ValueError):
            return None


def token_confidence(logprobs: Sequence[float]) -> float | None:
    """exp(mean log-probability) of the draft's tokens; None for no tokens.

    >>> round(token_confidence([-0.1, -0.3]), 4), token_confidence([])
    (0.8187, None)
    """
    finite = [lp for lp in logprobs if math.isfinite(lp)]
    if not finite:
        return None
    return math.exp(math.fsum(finite) / len(finite))


def structure_checks(text: str, data: Mapping[str, Any]) -> dict[str, bool]:
    """Each structure check and whether the draft passes it.

    >>> structure_checks("Subject: Demo\\n\\nHi Sam,\\n\\nShort.\\n\\nBest,\\nPriya",
    ...                  {"recipient": "Sam Lee", "company": "Acme"})
    {'subject': True, 'greeting': True, 'sign-off': True, 'length': False, 'recipient name': \
True, 'company': False}
    """
    email = parse_email(text)
    words = email.word_count
    checks = {
        "subject": bool(email.subject),
        "greeting": bool(email.greeting),
        "sign-off": bool(email.sign_off),
        "length": MIN_WORDS <= words <= MAX_WORDS,
    }
    fields = recipient_fields(data)
    lowered = text.casefold()
    first = fields.get("first_name")
    if first:
        checks["recipient name"] = first.casefold() in lowered
    company = fields.get("company")
    if company:
        checks["company"] = company.casefold() in lowered
    return checks


def draft_signals(
    text: str,
    data: Mapping[str, Any],
    notes: Sequence[LearnedNote] = (),
    token_conf: float | None = None,
    truncated: bool = False,
) -> Signals:
    """The signals of one draft: structure, learned rules followed, token confidence.

    >>> note = LearnedNote("No exclamation marks", "avoid", example="!")
    >>> s = draft_signals("Hi Sam,\\n\\nGreat news!\\n\\nBest,\\nPriya", {"recipient": "Sam"},
    ...                   [note], token_conf=0.9)
    >>> s.structure, s.missing, s.rules_followed, s.rules_checked, s.rule_edit, s.phrase_edit
    (0.6, ('subject', 'length'), 0, 1, None, 0.0303)
    """
    checks = structure_checks(text, data)
    followed = checked = 0
    changed: dict[bool, int | None] = {True: None, False: None}  # phrase rule? -> characters
    for note in notes:
        chars = edit_for(note, text, data)
        if chars is None:
            continue
        checked += 1
        followed += int(chars == 0)
        phrase = note.kind in PHRASE_KINDS
        changed[phrase] = (changed[phrase] or 0) + chars

    def share(chars: int | None) -> float | None:
        return None if chars is None else round(min(1.0, chars / max(1, len(text))), 4)

    return Signals(
        structure=round(sum(checks.values()) / len(checks), 4),
        missing=tuple(name for name, ok in checks.items() if not ok),
        rules_followed=followed,
        rules_checked=checked,
        token_confidence=None if token_conf is None else round(token_conf, 4),
        truncated=truncated,
        rule_edit=share(changed[False]),
        phrase_edit=share(changed[True]),
    )


@dataclass(frozen=True)
class Calibration:
    """A least-squares fit of the writers' edit distance on the signals, for one project."""

    weights: tuple[float, ...]  # one per FEATURES entry
    n: int  # annotated drafts it was fitted on
    mean_distance: float  # their mean edit distance
    fitted_at: str = ""

    def predicted_distance(self, signals: Signals) -> float:
        """The edit distance the fit expects for these signals, clipped to 0-1."""
        value = math.fsum(w * x for w, x in zip(self.weights, signals.features(), strict=True))
        return min(1.0, max(0.0, value))

    def as_json(self) -> dict[str, Any]:
        """JSON-ready, as stored in REDRAFT_HOME."""
        return {
            "features": list(FEATURES),
            "weights": list(self.weights),
            "n": self.n,
            "mean_distance": self.mean_distance,
            "fitted_at": self.fitted_at,
        }

    @classmethod
    def from_json(cls, value: Any) -> Calibration | None:
        """A calibration from `as_json`'s output; None when it is another shape (or features).

        >>> c = Calibration((0.5, 0, 0, 0, 0, 0, 0, 0), 12, 0.5)
        >>> Calibration.from_json(c.as_json()) == c
        True
        """
        if not isinstance(value, Mapping) or value.get("features") != list(FEATURES):
            return None
        try:
            weights = tuple(float(w) for w in value["weights"])
            if len(weights) != len(FEATURES) or not all(math.isfinite(w) for w in weights):
                return None
            return cls(
                weights,
                int(value["n"]),
                float(value["mean_distance"]),
                str(value.get("fitted_at") or ""),
            )
        except (KeyError, TypeError, ValueError):
            return None


def fit_calibration(
    rows: Sequence[tuple[Signals, float]], fitted_at: str = ""
) -> Calibration | None:
    """Ridge least squares of edit distance on the signals; None below MIN_FIT rows.

    >>> rows = [(Signals(s, token_confidence=t), 1.0 - 0.5 * s - 0.4 * t)
    ...         for s in (0.2, 0.5, 0.8, 1.0) for t in (0.3, 0.6, 0.9)]
    >>> fit = fit_calibration(rows)
    >>> fit.n, round(fit.predicted_distance(Signals(1.0, token_confidence=0.9)), 2)
    (12, 0.17)
    >>> fit_calibration(rows[:3]) is None
    True
    """
    if len(rows) < MIN_FIT:
        return None
    import numpy as np

    x = np.array([signals.features() for signals, _ in rows], dtype=float)
    y = np.array([distance for _, distance in rows], dtype=float)
    # Ridge: shrink every weight but the intercept towards 0, so a signal that never varies
    # (no learned rules, no log-probabilities) gets weight 0 instead of an arbitrary one.
    penalty = np.sqrt(RIDGE) * np.eye(len(FEATURES))[1:]
    x_aug = np.vstack([x, penalty])
    y_aug = np.concatenate([y, np.zeros(len(FEATURES) - 1)])
    weights, *_ = np.linalg.lstsq(x_aug, y_aug, rcond=None)
    return Calibration(
        tuple(round(float(w), 6) for w in weights),
        len(rows),
        round(float(y.mean()), 6),
        fitted_at,
    )


def prior_score(signals: Signals) -> float:
    """The no-history score: a weighted mean of the signals present, halved when truncated.

    >>> prior_score(Signals(1.0)), prior_score(Signals(0.5, token_confidence=0.8))
    (1.0, 0.6286)
    """
    parts = [(PRIOR_WEIGHTS["structure"], signals.structure)]
    if signals.rule_share is not None:
        parts.append((PRIOR_WEIGHTS["rules"], signals.rule_share))
    if signals.rules_keep is not None:
        parts.append((PRIOR_WEIGHTS["rules_keep"], signals.rules_keep))
    if signals.phrases_keep is not None:
        parts.append((PRIOR_WEIGHTS["phrases_keep"], signals.phrases_keep))
    if signals.token_confidence is not None:
        parts.append((PRIOR_WEIGHTS["tokens"], signals.token_confidence))
    value = math.fsum(w * v for w, v in parts) / math.fsum(w for w, _ in parts)
    return round(value * (0.5 if signals.truncated else 1.0), 4)


@dataclass(frozen=True)
class Confidence:
    """A draft's score (0-1, higher = more likely sent as is), its reason and its signals."""

    score: float
    reason: str
    signals: Signals


def confidence(signals: Signals, calibration: Calibration | None = None) -> Confidence:
    """The score and its one-line reason, from the fit when there is one, else the prior.

    >>> confidence(Signals(0.8, ("sign-off",), 3, 3, 0.9)).reason
    '0.89 — likely sent as is: follows 3/3 learned rules; token confidence 0.90; \
missing: sign-off (no history yet)'
    >>> fit = Calibration((0.6, -0.2, -0.2, 0.0, 0.0, 0.0, 0.0, 0.3), 40, 0.3)
    >>> c = confidence(Signals(1.0, truncated=True), fit)
    >>> c.score, c.reason
    (0.5, '0.50 — some edits likely: cut off at the length limit (fitted on 40 past edits)')
    """
    if calibration is not None:
        score = round(1.0 - calibration.predicted_distance(signals), 4)
        basis = f"fitted on {calibration.n:,} past edits"
    else:
        score = prior_score(signals)
        basis = "no history yet"
    return Confidence(score, f"{score:.2f} — {_reason(signals, score)} ({basis})", signals)


def _reason(signals: Signals, score: float) -> str:
    verdict = (
        "likely sent as is"
        if score >= 0.7
        else "some edits likely"
        if score >= 0.4
        else "heavy edits likely"
    )
    parts = []
    if signals.rules_checked:
        parts.append(f"follows {signals.rules_followed}/{signals.rules_checked} learned rules")
    changed = (signals.rule_edit or 0.0) + (signals.phrase_edit or 0.0)
    if changed:
        parts.append(f"they would change ~{min(1.0, changed):.0%} of it")
    if signals.token_confidence is not None:
        parts.append(f"token confidence {signals.token_confidence:.2f}")
    if signals.truncated:
        parts.append("cut off at the length limit")
    if signals.missing:
        parts.append("missing: " + ", ".join(signals.missing))
    return verdict + (": " + "; ".join(parts) if parts else "")
