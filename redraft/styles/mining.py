"""Mine each client's style rules from the writers' edits: pure functions, no I/O.

Every rule is something the writers do over and over, with the evidence to check it:

- **add**: a greeting form, a sign-off, a sentence (a call to action, a P.S. line) or a subject
  word that the finals have and the drafts lacked;
- **avoid**: a word, phrase or "!" that the writers delete from the drafts, in a targeted edit
  or inside a sentence they rewrote (a phrase only moved elsewhere in the final, or whose words
  are all still there in another order, is not deleted; one lost only with sentences cut
  whole counts when it goes more often than the writers cut sentences at all);
- **replace**: a word or short phrase the writers swap for another;
- **length**: finals consistently shorter (or longer) than the drafts, or every final under a
  limit that drafts went over.

Names and the company are generalised to placeholders ({first_name}, {full_name},
{last_name}, {company}) so "Hi Sam," and "Hi Ana," count as one greeting. Personal data never
becomes a rule: email addresses, phone numbers and the names of other tasks' recipients are
masked ([email], [phone], [name]) before mining, and a rule's evidence says what was masked
in it. A title before a name stays in the pattern ("Dear Dr. {last_name},"). The diffs come
from difflib over word tokens; a rule needs `min_support` edits and `min_share` of the
client's edits behind it, so one odd edit never becomes a rule, and a lone common word
("made", "up") needs `COMMON_WORD_FACTOR` times that support, since alone it says little.
Rules come out strongest evidence first (see `strength`).
"""

from __future__ import annotations

import difflib
import itertools
import math
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field

from redraft.emailparts import Email, names_from_recipient, parse_email
from redraft.exporters.pii import EMAIL_MASK, PHONE_MASK, mask_text
from redraft.knobs import knob

# Words that never make a rule alone (a deleted "the" says nothing about style).
STOPWORDS = frozenset(
    """a an and are as at be but by for from has have i if in is it its me my of on or our
    so that the their them they this to us was we were will with you your""".split()
)
# Common words: one of these alone is deleted in passing far more often than on purpose.
COMMON_WORDS = frozenset(
    """about after again all also any back because been before being both can come could day
    did do does down each even first get give go going good got great had he her here him his
    how just know last like little long look made make many may more most much must new next
    no not now off one only other out over own people put really same say see she should some
    still such take than then there these thing things think those through time too two under
    up use very want way well what when where which while who why would year years""".split()
)
COMMON_WORD_FACTOR = 3
# A limit the finals keep is a rule only when this share of the drafts went over it.
CAP_MIN_OVER = 0.1
_TOKEN = re.compile(r"\{\w+\}|\[\w+\]|[\w'’%-]+|[!?]")
NAME_MASK = "[name]"
# Two or three capitalised words, not at the start of a sentence: how a name is written.
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w'’-]+(?:\s+[A-Z][\w'’-]+){1,2}\b")
_PERSON_FIELD = re.compile(r"name|contact|cc|recipient|person|sender", re.IGNORECASE)
# What a placeholder in a rule stands for, for its evidence.
MASKED = ((EMAIL_MASK, "an email address"), (PHONE_MASK, "a phone number"), (NAME_MASK, "a name"))
# An edit counts as targeted (not a rewritten or cut sentence) when the writer kept this many
# words around it.
CONTEXT_WORDS = 3
# A draft sentence is rewritten, not cut, when one final sentence keeps this share of its
# content words.
REWRITE_OVERLAP = 1 / 3
# Deletions inside cut sentences count only when the writers delete the phrase more often than
# they cut sentences at all (one-sided binomial test at this level).
CUT_EVIDENCE_LEVEL = 0.05
_SPACE = re.compile(r"\s+")
GENERALISED = ("full_name", "company", "first_name", "last_name")


@dataclass(frozen=True)
class EditRecord:
    """What mining needs from one feedback record: the draft, the final and the task data."""

    client: str
    draft: str
    final: str
    data: Mapping[str, object] = field(default_factory=dict)
    issues: tuple[str, ...] = ()
    feedback: str | None = None


@dataclass(frozen=True)
class MiningOptions:
    """Thresholds: a rule needs `min_support` edits and `min_share` of a client's edits."""

    min_support: int = knob(3, "Edits a rule needs behind it.", bounds=(1, None))
    min_share: float = knob(
        0.6,
        "Share of a client's edits (or of the drafts that had a phrase) a rule needs.",
        bounds=(0, 1),
    )
    max_phrase_words: int = knob(8, "Longest phrase a rule names, in words.", cli=False)


@dataclass(frozen=True)
class LearnedRule:
    """One rule: the instruction the prompt gets, and the edits that show it."""

    kind: str  # greeting | sign_off | sentence | postscript | subject | avoid | replace | length
    rule: str
    support: int
    total: int
    example: str = ""

    @property
    def masked(self) -> tuple[str, ...]:
        """The personal data masked in the rule (never learned as written).

        >>> LearnedRule("sentence", 'Include "Copy {full_name} at [email]"', 3, 4).masked
        ('an email address',)
        """
        text = self.rule + self.example
        return tuple(what for placeholder, what in MASKED if placeholder in text)

    @property
    def evidence(self) -> str:
        """How many of the client's edits show the rule, and what was masked in it.

        >>> LearnedRule("avoid", 'Never write "just".', 9, 12).evidence
        '9 of 12 edits'
        >>> LearnedRule("sentence", 'Include "Call [phone] or copy [name]"', 3, 4).evidence
        '3 of 4 edits; masked: a phone number, a name'
        """
        found = f"{self.support} of {self.total} edits"
        return f"{found}; masked: {', '.join(self.masked)}" if self.masked else found


@dataclass(frozen=True)
class ClientFindings:
    """Everything mined for one client."""

    client: str
    edits: int
    rules: tuple[LearnedRule, ...]
    issue_tags: tuple[tuple[str, int], ...] = ()
    feedback_themes: tuple[tuple[str, int], ...] = ()


def learn_styles(
    records: Iterable[EditRecord], options: MiningOptions = MiningOptions()
) -> dict[str, ClientFindings]:
    """Findings per client (clients kept apart; records without a client are skipped)."""
    by_client: dict[str, list[EditRecord]] = defaultdict(list)
    for record in records:
        if record.client.strip() and record.draft.strip() and record.final.strip():
            by_client[record.client.strip()].append(record)
    return {
        client: learn_client(client, rows, options) for client, rows in sorted(by_client.items())
    }


def learn_client(
    client: str, records: Sequence[EditRecord], options: MiningOptions = MiningOptions()
) -> ClientFindings:
    """The rules one client's writers apply, strongest evidence first within each kind."""
    names = recipients(records)
    edits = [_Edit.of(record, options.max_phrase_words, names) for record in records]
    rules = [
        *_part_rule(edits, options, "greeting", lambda e: e.greeting, 'Open with "{}"'),
        *_part_rule(edits, options, "sign_off", lambda e: e.sign_off, "Sign off with:\n{}"),
        *_part_rule(edits, options, "postscript", lambda e: e.postscript, 'End with "{}"'),
        *_sentence_rules(edits, options),
        *_subject_rules(edits, options),
    ]
    replaced = _replace_rules(edits, options)
    swapped = [rule.example.split(" -> ")[0] for rule in replaced]
    rules += replaced
    # A phrase deleted because a swapped word was in it is the swap, not a rule of its own.
    rules += [
        r
        for r in _avoid_rules(edits, options)
        if not any(f" {old} " in f" {r.example} " for old in swapped)
    ]
    rules += _length_rules(edits, options)
    tags = Counter(tag for record in records for tag in set(record.issues))
    return ClientFindings(
        client=client,
        edits=len(edits),
        rules=tuple(sorted(rules, key=lambda r: (-strength(r), -r.support))),
        issue_tags=tuple(sorted(tags.items(), key=lambda kv: (-kv[1], kv[0]))),
        feedback_themes=_themes([r.feedback or "" for r in records], options),
    )


@dataclass(frozen=True)
class _Edit:
    """One edit, generalised: both texts with names and company as placeholders, and the
    targeted changes to the body (deleted phrases, swapped phrases) found by a word diff."""

    draft: Email
    final: Email
    draft_tokens: tuple[str, ...]
    deleted: frozenset[str]
    swaps: frozenset[tuple[str, str]]
    drafted: frozenset[str] = frozenset()  # the phrases of the draft's body, sentence by sentence
    # Of `deleted`, those gone only with sentences the writer cut whole (see cut_sentences),
    # and how many of the draft's sentences were cut.
    deleted_in_cut: frozenset[str] = frozenset()
    sentences: int = 0
    sentences_cut: int = 0

    @staticmethod
    def of(record: EditRecord, longest: int, names: frozenset[str] = frozenset()) -> _Edit:
        values = recipient_fields(record.data)
        draft = parse_email(personal_data_masked(generalise(record.draft, values), names))
        final = parse_email(personal_data_masked(generalise(record.final, values), names))
        before, after = tokens(draft.body), tokens(final.body)
        swaps: set[tuple[str, str]] = set()
        codes = difflib.SequenceMatcher(None, before, after, autojunk=False).get_opcodes()
        # A passage of more than `longest` words cut with nothing in its place is a cut (for
        # length, say), not a choice of words: its phrases are not counted as deleted.
        cut = {
            at
            for op, i1, i2, _, _ in codes
            if op == "delete" and i2 - i1 > longest
            for at in range(i1, i2)
        }
        for at, (op, i1, i2, j1, j2) in enumerate(codes):
            if op != "replace" or i2 - i1 > longest or j2 - j1 > longest:
                continue
            # A swap is targeted when the words around it (one side at the start or end of
            # the body) were kept; inside a rewritten sentence it says nothing about which
            # word replaced which.
            sides = [codes[k] for k in (at - 1, at + 1) if 0 <= k < len(codes)]
            if any(c[0] != "equal" for c in sides):
                continue
            if sum(c[2] - c[1] for c in sides) < CONTEXT_WORDS:
                continue
            swaps.add((" ".join(before[i1:i2]), " ".join(after[j1:j2])))
        drafted = _sentence_grams(draft, longest)
        left = _sentence_grams(draft, longest, cut) if cut else drafted
        kept = _sentence_grams(final, longest)
        deleted = deleted_phrases(left, kept, longest)
        dropped = cut_sentences(draft, final)
        in_cut: set[str] = set()
        if dropped:
            survived = _sentence_grams(draft, longest, cut | _positions(draft, dropped))
            in_cut = deleted - deleted_phrases(survived, kept, longest)
        return _Edit(
            draft,
            final,
            before,
            frozenset(deleted),
            frozenset(swaps),
            frozenset(drafted),
            frozenset(in_cut),
            len(draft.sentences),
            len(dropped),
        )


def cut_sentences(draft: Email, final: Email) -> set[int]:
    """The indexes of the draft's sentences the writer cut: those no final
    sentence keeps REWRITE_OVERLAP of the content words of (a rewrite keeps some). Each final
    word stands for one draft sentence only, so a final sentence can merge two draft sentences
    but not keep both of two repeated ones. A sentence with no content words is never cut.

    >>> d = parse_email("Hi Bo,\\n\\nOur bikes are light. We ship fast to every city.")
    >>> cut_sentences(d, parse_email("Hi Bo,\\n\\nOur bikes are very light."))
    {1}
    >>> cut_sentences(d, parse_email("Hi Bo,\\n\\nLight bikes, shipped fast to each city."))
    set()
    >>> cut_sentences(parse_email("Hi,\\n\\nBikes rock. Bikes rock."),
    ...               parse_email("Hi,\\n\\nBikes rock."))
    {1}
    """
    drafts = [_content(s.text) for s in draft.sentences]
    unclaimed = [_content(s.text) for s in final.sentences]
    # Sentences the final keeps most of claim their words first.
    order = sorted(
        (i for i, words in enumerate(drafts) if words),
        key=lambda i: -max((len(drafts[i] & f) for f in unclaimed), default=0) / len(drafts[i]),
    )
    cut: set[int] = set()
    for i in order:
        kept = max(unclaimed, key=lambda f: len(drafts[i] & f), default=set())
        if len(drafts[i] & kept) >= REWRITE_OVERLAP * len(drafts[i]):
            kept -= drafts[i]
        else:
            cut.add(i)
    return cut


def _positions(email: Email, sentences: Set[int]) -> set[int]:
    """The body token positions of the sentences at these indexes."""
    positions: set[int] = set()
    start = 0
    for index, sentence in enumerate(email.sentences):
        words = len(tokens(sentence.text))
        if index in sentences:
            positions.update(range(start, start + words))
        start += words
    return positions


def _content(text: str) -> set[str]:
    """A sentence's content words, stemmed: no stopwords, common words or placeholders."""
    return {
        _stem(t)
        for t in tokens(text)
        if t not in STOPWORDS and t not in COMMON_WORDS and t[0] not in "{[!?"
    }


def _stem(word: str) -> str:
    """A crude stem, so "hired" and "hiring" count as one word kept.

    >>> [_stem(w) for w in ("hired", "hiring", "hires", "launch", "quickly")]
    ['hir', 'hir', 'hir', 'launch', 'quick']
    """
    for suffix in ("ing", "ed", "es", "ly", "s", "e"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def upper_tail(successes: int, trials: int, rate: float) -> float:
    """P(at least `successes` of `trials` at `rate`): the one-sided binomial p-value.

    >>> round(upper_tail(5, 5, 0.7), 3), round(upper_tail(10, 10, 0.25), 6)
    (0.168, 1e-06)
    """
    return sum(
        math.comb(trials, k) * rate**k * (1 - rate) ** (trials - k)
        for k in range(successes, trials + 1)
    )


def deleted_phrases(drafted: Counter[str], kept: Counter[str], longest: int = 8) -> set[str]:
    """The draft's phrases the final has fewer of, wherever the edit happened (a targeted cut
    or a rewritten sentence), except those only moved. A phrase counts when its first and last
    words are gone too (fewer of them in the final) and one of them is not a stopword, so the
    phrase is the deleted words themselves, and a reordered sentence deletes nothing.

    >>> draft = Counter(_grams(tokens("It is a testament to our team"), 3))
    >>> final = Counter(_grams(tokens("Our team is proof"), 3))
    >>> sorted(g for g in deleted_phrases(draft, final, 3) if "testament" in g)
    ['a testament', 'a testament to', 'testament', 'testament to']
    >>> deleted_phrases(Counter(_grams(["team", "is", "great"], 3)),
    ...                 Counter(_grams(["great", "is", "team"], 3)), 3)
    set()
    """
    gone = {gram for gram, count in drafted.items() if " " not in gram and kept[gram] < count}
    found = set()
    for gram, count in drafted.items():
        words = gram.split()
        if kept[gram] >= count or words[0] not in gone or words[-1] not in gone:
            continue
        if any(w in gone and w not in STOPWORDS for w in words):
            found.add(gram)
    return found


def _sentence_grams(email: Email, longest: int, skip: Set[int] = frozenset()) -> Counter[str]:
    """How often each phrase (of up to `longest` tokens, never across sentences nor across the
    body's token positions in `skip`) is in a body."""
    counts: Counter[str] = Counter()
    start = 0
    for sentence in email.sentences:
        words = tokens(sentence.text)
        runs: list[list[str]] = [[]]
        for at, word in enumerate(words, start):
            if at in skip:
                runs.append([])
            else:
                runs[-1].append(word)
        start += len(words)
        for run in runs:
            counts.update(
                " ".join(run[i : i + n])
                for n in range(1, longest + 1)
                for i in range(len(run) - n + 1)
            )
    return counts


def recipient_fields(data: Mapping[str, object]) -> dict[str, str]:
    """The values generalised to placeholders: the recipient's names and the company.

    >>> recipient_fields({"recipient": "Sam Lee, CTO", "company": "Acme"})["full_name"]
    'Sam Lee'
    """
    values = names_from_recipient(data.get("recipient"))
    if values["full_name"] == "there":  # no recipient: nothing to generalise
        values = {}
    company = data.get("company")
    if isinstance(company, str) and company.strip():
        values["company"] = company.strip()
    return values


def generalise(text: str, values: Mapping[str, str]) -> str:
    """`text` with each value (whole words, longest first) replaced by its {placeholder}.

    >>> generalise("Hi Sam, Sam Lee at Acme", {"first_name": "Sam", "full_name": "Sam Lee",
    ...   "company": "Acme"})
    'Hi {first_name}, {full_name} at {company}'
    """
    ordered = sorted(
        ((key, values[key]) for key in GENERALISED if values.get(key)), key=lambda kv: -len(kv[1])
    )
    for key, value in ordered:
        if len(value) >= 2:
            text = re.sub(rf"(?<![\w{{]){re.escape(value)}(?![\w}}])", "{" + key + "}", text)
    return text


def recipients(records: Iterable[EditRecord]) -> frozenset[str]:
    """The people the records' task data names: each recipient's full name, and the names
    (two or three capitalised words) in the brief and in fields about people. Each task's own
    recipient is generalised first, so what is left of these in a text is someone else.

    >>> sorted(recipients([EditRecord("A", "d", "f", {"recipient": "Sam Lee, CTO",
    ...     "brief": "Offer a demo. Copy Alan Turing."})]))
    ['Alan Turing', 'Sam Lee']
    """
    names = set()
    for record in records:
        name = names_from_recipient(record.data.get("recipient"))["full_name"]
        if " " in name.strip():
            names.add(name.strip())
        for key, value in record.data.items():
            if isinstance(value, str) and (key == "brief" or _PERSON_FIELD.search(key)):
                names |= {m.group(0) for m in _NAME.finditer(value)}
    company = {str(r.data.get("company") or "") for r in records} | {r.client for r in records}
    return frozenset(n for n in names if n not in company)


def personal_data_masked(text: str, names: Iterable[str] = ()) -> str:
    """`text` with email addresses, phone numbers and the given names masked.

    >>> personal_data_masked("Copy Alan Turing at alan.turing@example.com", ["Alan Turing"])
    'Copy [name] at [email]'
    """
    text = mask_text(text)
    for name in sorted(names, key=len, reverse=True):
        words = r"\s+".join(re.escape(w) for w in name.split())
        text = re.sub(rf"(?<![\w{{]){words}(?![\w}}])", NAME_MASK, text, flags=re.IGNORECASE)
    return text


def tokens(text: str) -> tuple[str, ...]:
    """Lower-cased word tokens, with "!" and "?" as tokens of their own.

    >>> tokens("Great news! It's 4% off?")
    ('great', 'news', '!', "it's", '4%', 'off', '?')
    """
    return tuple(t.lower() for t in _TOKEN.findall(text))


def _norm(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def _part_rule(edits, options, kind, part, wording):  # type: ignore[no-untyped-def]
    """A part (greeting, sign-off, P.S.) most finals share and many drafts lacked."""
    finals = Counter(_norm(part(e.final)) for e in edits if part(e.final).strip())
    if not finals:
        return []
    text, support = finals.most_common(1)[0]
    added = sum(1 for e in edits if _norm(part(e.final)) == text != _norm(part(e.draft)))
    if not _enough(support, len(edits), options) or added < options.min_support:
        return []
    exact = next(part(e.final).strip() for e in edits if _norm(part(e.final)) == text)
    return [LearnedRule(kind, wording.format(exact), support, len(edits), exact)]


def _sentence_rules(edits: Sequence[_Edit], options: MiningOptions) -> list[LearnedRule]:
    """Sentences (generalised) that most finals contain and the writers wrote in."""
    in_final: Counter[str] = Counter()
    added: Counter[str] = Counter()
    for e in edits:
        finals = {_norm(s.text) for s in e.final.sentences}
        drafts = {_norm(s.text) for s in e.draft.sentences}
        in_final.update(finals)
        # A draft sentence with a word or two changed is an edit (the avoid and replace rules
        # catch those), not a sentence the writer wrote in.
        added.update(s for s in finals - drafts if not _edited_from(s, drafts))
    return [
        LearnedRule("sentence", f'Include the sentence "{text}"', count, len(edits), text)
        for text, count in in_final.most_common()
        if _enough(count, len(edits), options) and added[text] >= options.min_support
    ]


def _edited_from(sentence: str, drafts: set[str]) -> bool:
    words = sentence.lower().split()
    return any(
        difflib.SequenceMatcher(None, words, draft.lower().split()).ratio() >= 0.6
        for draft in drafts
    )


def _subject_rules(edits: Sequence[_Edit], options: MiningOptions) -> list[LearnedRule]:
    """Words or phrases most final subject lines contain that the draft subjects lacked."""
    grams_final: Counter[str] = Counter()
    grams_added: Counter[str] = Counter()
    for e in edits:
        before, after = tokens(e.draft.subject or ""), tokens(e.final.subject or "")
        grams_final.update(_grams(after, options.max_phrase_words))
        codes = difflib.SequenceMatcher(None, before, after, autojunk=False).get_opcodes()
        inserted: set[str] = set()
        for op, _, _, j1, j2 in codes:
            if op in ("insert", "replace"):
                inserted |= _grams(after[j1:j2], options.max_phrase_words)
        grams_added.update(inserted)
    found = {
        gram: count
        for gram, count in grams_final.items()
        if _enough(count, len(edits), options)
        and grams_added[gram] >= options.min_support
        and not set(gram.split()) <= STOPWORDS
        and "[" not in gram
    }
    return [
        LearnedRule("subject", f'Put "{gram}" in the subject line', count, len(edits), gram)
        for gram, count in _maximal(found)
    ]


def strength(rule: LearnedRule) -> float:
    """How sure the evidence makes a rule: the lower bound of the 95% Wilson interval of its
    share, so 9 of 10 edits ranks above 3 of 3.

    >>> round(strength(LearnedRule("avoid", "r", 9, 10)), 2), round(
    ...     strength(LearnedRule("avoid", "r", 3, 3)), 2)
    (0.6, 0.44)
    """
    n, z = rule.total, 1.96
    if n <= 0:
        return 0.0
    share = rule.support / n
    middle = share + z * z / (2 * n)
    spread = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n))
    return (middle - spread) / (1 + z * z / n)


def needed_support(gram: str, options: MiningOptions) -> int:
    """Edits a deleted phrase needs: one common word alone needs COMMON_WORD_FACTOR times more.

    >>> needed_support("made", MiningOptions()), needed_support("a delicate dance", MiningOptions())
    (9, 3)
    """
    if gram in COMMON_WORDS:
        return options.min_support * COMMON_WORD_FACTOR
    return options.min_support


def _avoid_rules(edits: Sequence[_Edit], options: MiningOptions) -> list[LearnedRule]:
    """Phrases the writers delete (or swap out) from the body most times a draft has them.

    Edits that lost a phrase only with a sentence cut whole count when the phrase is deleted
    more often than the writers cut sentences at all (one-sided binomial test at
    CUT_EVIDENCE_LEVEL); where they cut most sentences to a length, a phrase lost with them
    says nothing about the phrase, and only its targeted deletions count.
    """
    in_draft: Counter[str] = Counter()
    deleted: Counter[str] = Counter()
    in_cut: Counter[str] = Counter()
    for e in edits:
        in_draft.update(e.drafted)
        deleted.update(e.deleted)
        in_cut.update(e.deleted_in_cut)
    sentences = sum(e.sentences for e in edits)
    cut_rate = sum(e.sentences_cut for e in edits) / sentences if sentences else 0.0
    for gram, count in in_cut.items():
        if upper_tail(deleted[gram], in_draft[gram], cut_rate) >= CUT_EVIDENCE_LEVEL:
            deleted[gram] -= count
    found = {
        gram: count
        for gram, count in deleted.items()
        if count >= needed_support(gram, options)
        and count / in_draft[gram] >= options.min_share
        and not set(gram.split()) <= STOPWORDS
        and "{" not in gram
        and "[" not in gram
    }
    rules = []
    for gram, count in _without_overlaps(_maximal(found)):
        wording = "No exclamation marks" if gram == "!" else f'Never write "{gram}"'
        rules.append(LearnedRule("avoid", wording, count, in_draft[gram], gram))
    return rules


def _replace_rules(edits: Sequence[_Edit], options: MiningOptions) -> list[LearnedRule]:
    """Phrases the writers swap for the same other phrase, most times a draft has them."""
    swaps: Counter[tuple[str, str]] = Counter(swap for e in edits for swap in e.swaps)
    in_draft: Counter[str] = Counter()
    for e in edits:
        in_draft.update(_grams(e.draft_tokens, options.max_phrase_words))
    rules = []
    for (old, new), count in swaps.most_common():
        if set(old.split()) <= STOPWORDS or "{" in old + new or "[" in old + new:
            continue
        if (
            count >= needed_support(old, options)
            and count / max(in_draft[old], 1) >= options.min_share
        ):
            wording = f'Write "{new}", not "{old}"'
            rules.append(LearnedRule("replace", wording, count, in_draft[old], f"{old} -> {new}"))
    return rules


def _length_rules(edits: Sequence[_Edit], options: MiningOptions) -> list[LearnedRule]:
    """Finals consistently shorter (or longer) than drafts: a word limit (or floor); else every
    final under a limit that drafts went over and the writers cut them back under."""
    pairs = [(e.draft.word_count, e.final.word_count) for e in edits if e.draft.word_count]
    if len(pairs) < options.min_support:
        return []
    shorter = sum(1 for d, f in pairs if f < 0.9 * d)
    longer = sum(1 for d, f in pairs if f > 1.1 * d)
    finals = sorted(f for _, f in pairs)
    drafts = statistics.median(d for d, _ in pairs)
    typical = statistics.median(finals)
    if _enough(shorter, len(pairs), options):
        limit = finals[min(len(finals) - 1, math.ceil(0.9 * len(finals)) - 1)]
        rule = f"Keep it under {int(math.ceil(limit / 5) * 5)} words (greeting and body)"
    elif _enough(longer, len(pairs), options):
        rule = f"Write at least {int(typical // 5 * 5)} words (greeting and body)"
    else:
        return _cap_rules(pairs, options)
    example = f"finals median {typical:g} words, drafts median {drafts:g}"
    return [LearnedRule("length", rule, max(shorter, longer), len(pairs), example)]


def _cap_rules(pairs: Sequence[tuple[int, int]], options: MiningOptions) -> list[LearnedRule]:
    """Every final stays under a limit (the longest final, rounded up to 5 words) and at least
    `min_support` drafts (and CAP_MIN_OVER of them) went over it by more than 10%, each cut back
    under by its writer. Drafts already short
    enough are left alone, so the finals need not be shorter than the drafts on the whole."""
    limit = int(math.ceil(max(f for _, f in pairs) / 5) * 5)
    over = [(d, f) for d, f in pairs if d > 1.1 * limit]  # over it by 10%, not by a word
    if len(over) < options.min_support or len(over) / len(pairs) < CAP_MIN_OVER:
        return []
    typical = statistics.median(f for _, f in pairs)
    example = (
        f"every final {limit} words or fewer (median {typical:g}); "
        f"{len(over)} of {len(pairs)} drafts were longer and cut"
    )
    rule = f"Keep it under {limit} words (greeting and body)"
    return [LearnedRule("length", rule, len(over), len(over), example)]


def _themes(feedback: Sequence[str], options: MiningOptions) -> tuple[tuple[str, int], ...]:
    """Content words and word pairs that recur across the free-text feedback (top 8)."""
    counts: Counter[str] = Counter()
    for text in feedback:
        words = [t for t in tokens(text) if t.isalpha() and t not in STOPWORDS]
        counts.update(set(words) | {" ".join(p) for p in itertools.pairwise(words)})
    found = {gram: n for gram, n in counts.items() if n >= options.min_support}
    return tuple(_maximal(found)[:8])


def _enough(count: int, total: int, options: MiningOptions) -> bool:
    return total > 0 and count >= options.min_support and count / total >= options.min_share


def _grams(words: Sequence[str], longest: int) -> set[str]:
    return {
        " ".join(words[i : i + n]) for n in range(1, longest + 1) for i in range(len(words) - n + 1)
    }


def _without_overlaps(kept: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """One phrase per deleted passage: a phrase that overlaps a longer kept one by half its
    words or more, with nearly its support, is the same passage seen from another start.

    >>> _without_overlaps([("would you be available for a", 9), ("you be available for a call", 9),
    ...     ("just", 4)])
    [('would you be available for a', 9), ('just', 4)]
    """
    out: list[tuple[str, int]] = []
    for gram, count in sorted(kept, key=lambda kv: (-len(kv[0].split()), -kv[1], kv[0])):
        words = gram.split()
        if not any(
            _overlap(words, other.split()) * 2 >= len(words) and other_count >= 0.8 * count
            for other, other_count in out
        ):
            out.append((gram, count))
    return sorted(out, key=lambda kv: (-kv[1], kv[0]))


def _overlap(a: list[str], b: list[str]) -> int:
    """Words where the end of one phrase runs into the start of the other."""
    return max(
        (n for n in range(1, min(len(a), len(b)) + 1) if a[-n:] == b[:n] or b[-n:] == a[:n]),
        default=0,
    )


def _maximal(found: Mapping[str, int]) -> list[tuple[str, int]]:
    """The longest phrases: drop one inside a kept longer one with nearly its support.

    >>> _maximal({"hope this": 5, "i hope this finds you well": 5, "just": 4})
    [('i hope this finds you well', 5), ('just', 4)]
    """
    kept: list[tuple[str, int]] = []
    for gram, count in sorted(found.items(), key=lambda kv: (-len(kv[0].split()), -kv[1], kv[0])):
        inside = any(
            f" {gram} " in f" {longer} " and longer_count >= 0.8 * count
            for longer, longer_count in kept
        )
        if not inside:
            kept.append((gram, count))
    return sorted(kept, key=lambda kv: (-kv[1], kv[0]))
