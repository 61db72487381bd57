"""Style mining (`redraft styles learn`) and applying the rules to a template (`styles apply`)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.briefs import make_briefs
from redraft.cli.main import cli
from redraft.label_config.results import draft_prediction
from redraft.prompting import build_messages, load_template, parse_template
from redraft.settings import Settings
from redraft.simulate.annotate import annotation_results
from redraft.simulate.rules import load_rules
from redraft.simulate.writers import simulate_edit
from redraft.styles.check import follows
from redraft.styles.mining import EditRecord, LearnedRule, MiningOptions, learn_styles
from redraft.styles.notes import apply_notes, read_fragment, render_fragment
from redraft.training.registry import Registry
from tests.fixtures.writers import naive_draft


def simulated_tasks(
    clients: list[str], per_client: int, version: str = "base", styled: bool = False
) -> list[dict]:
    """Completed Label Studio tasks: drafts edited by the shipped simulated writers. The drafts
    are naive ones, or (`styled`) what the writer makes of them, so they follow every rule."""
    rules = load_rules()
    tasks = []
    for client in clients:
        for data in make_briefs(client, per_client, seed=3):
            draft = naive_draft(data)
            if styled:
                draft = simulate_edit(rules[client], data, draft).final
            verdict = simulate_edit(rules[client], data, draft)
            task_id = len(tasks) + 1
            prediction = draft_prediction(draft, version)
            tasks.append(
                {
                    "id": task_id,
                    "data": data,
                    "predictions": [{"id": task_id, **prediction}],
                    "annotations": [
                        {
                            "id": task_id,
                            "parent_prediction": task_id,
                            "completed_by": 1,
                            "was_cancelled": False,
                            "result": annotation_results(draft, verdict),
                        }
                    ],
                }
            )
    return tasks


def rules_by_kind(found) -> dict[str, list[LearnedRule]]:  # type: ignore[no-untyped-def]
    kinds: dict[str, list[LearnedRule]] = {}
    for rule in found.rules:
        kinds.setdefault(rule.kind, []).append(rule)
    return kinds


def test_mining_names_the_simulated_writers_rules_with_their_evidence():
    from redraft.styles.source import edit_records

    tasks = simulated_tasks(["Northwind Analytics", "Quarry Bikes"], 12)
    source = edit_records(tasks, load_template(None))
    assert (source.tasks, len(source.records)) == (24, 24)
    findings = learn_styles(source.records)
    assert sorted(findings) == ["Northwind Analytics", "Quarry Bikes"]

    north = rules_by_kind(findings["Northwind Analytics"])
    assert [(r.rule, r.evidence) for r in north["greeting"]] == [
        ('Open with "Hi {first_name},"', "12 of 12 edits")
    ]
    assert north["sign_off"][0].example == "Best,\nPriya Raman\nNorthwind Analytics"
    assert north["sentence"][0].example == (
        "Would a 20-minute walkthrough for the {company} team work next week?"
    )
    avoided = {r.example for r in north.get("avoid", [])}
    swapped = {r.example for r in north.get("replace", [])}
    # Banned phrases and "!" are deleted; tone words are swapped for the writer's own.
    assert {"i hope this email finds you well", "!"} <= avoided, avoided
    assert "excited -> glad" in swapped, swapped

    bikes = rules_by_kind(findings["Quarry Bikes"])
    assert bikes["greeting"][0].rule == 'Open with "Hey {first_name}!"'
    assert bikes["postscript"][0].example.startswith("P.S.")
    assert "!" not in {r.example for r in bikes.get("avoid", [])}  # this writer allows them
    # Each client keeps its own rules: no Northwind sign-off in the bike shop's findings.
    assert all("Priya" not in r.rule for r in findings["Quarry Bikes"].rules)
    tags = dict(findings["Northwind Analytics"].issue_tags)
    assert tags["call to action"] == 12


def edit(client: str, draft: str, final: str, recipient: str = "Sam Lee, CTO", **kw) -> EditRecord:
    data = {"recipient": recipient, "company": kw.pop("company", "Acme")}
    return EditRecord(client, draft, final, data, **kw)


def test_rules_the_simulated_writers_never_use_are_found_too():
    """A fixed P.S. line and a required word in the subject, on hand-built edits."""
    people = ["Sam Lee", "Ana Ruiz", "Bo Chen", "Eve Park", "Raj Patel"]
    records = [
        edit(
            "Fjord Dental",
            f"Subject: Hello\n\nHi {p.split()[0]},\n\nWe clean teeth well.\n\nBest,\nKim",
            f"Subject: Hello from Fjord Dental\n\nHi {p.split()[0]},\n\nWe clean teeth well."
            "\n\nBest,\nKim\n\nP.S. New patients get a free check-up.",
            recipient=f"{p}, Owner",
        )
        for p in people
    ]
    found = learn_styles(records)["Fjord Dental"]
    kinds = rules_by_kind(found)
    assert [(r.rule, r.support, r.total) for r in kinds["postscript"]] == [
        ('End with "P.S. New patients get a free check-up."', 5, 5)
    ]
    assert [r.example for r in kinds["subject"]] == ["from fjord dental"]
    assert "greeting" not in kinds  # the drafts already greet this way: nothing to learn


def test_noise_makes_no_rule():
    rng = random.Random(5)
    words = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima".split()
    records = []
    for i in range(30):
        draft_words = rng.sample(words, 8)
        final_words = list(draft_words)
        final_words[rng.randrange(8)] = rng.choice(words)  # one random swap per edit
        rng.shuffle(final_words)
        records.append(
            edit(
                "Noise Inc",
                f"Subject: {rng.choice(words)}\n\n{' '.join(draft_words)}.",
                f"Subject: {rng.choice(words)}\n\n{' '.join(final_words)}.",
                recipient=f"Person{i} X, CEO",
            )
        )
    found = learn_styles(records)["Noise Inc"]
    assert found.rules == ()


def test_one_odd_edit_never_becomes_a_rule():
    base = "Subject: Hi\n\nHi Sam,\n\nWe fix roofs fast and well today.\n\nBest,\nJo"
    records = [edit("Roofco", base, base) for _ in range(9)]
    records.append(edit("Roofco", base, base.replace("fast and", "very")))
    assert learn_styles(records)["Roofco"].rules == ()
    strict = MiningOptions(min_support=2, min_share=0.5)
    assert learn_styles(records[:2], strict)["Roofco"].rules == ()


def test_two_clients_with_conflicting_rules_are_kept_apart():
    records = []
    for name in ["Sam Lee", "Ana Ruiz", "Bo Chen", "Eve Park"]:
        first = name.split()[0]
        draft = f"Subject: Hi\n\nHello {first},\n\nOur vans are fast.\n\nRegards,\nTeam"
        records.append(
            edit(
                "Formal Ltd",
                draft,
                draft.replace(f"Hello {first},", f"Dear {name},"),
                recipient=f"{name}, CFO",
            )
        )
        records.append(
            edit(
                "Casual Co",
                draft,
                draft.replace(f"Hello {first},", f"Hey {first}!"),
                recipient=f"{name}, CFO",
            )
        )
    found = learn_styles(records)
    assert [r.rule for r in rules_by_kind(found["Formal Ltd"])["greeting"]] == [
        'Open with "Dear {full_name},"'
    ]
    assert [r.rule for r in rules_by_kind(found["Casual Co"])["greeting"]] == [
        'Open with "Hey {first_name}!"'
    ]


def test_a_shorter_final_gives_a_word_limit():
    records = []
    for i in range(6):
        long_body = " ".join(f"word{j}" for j in range(100))
        short_body = " ".join(f"word{j}" for j in range(50 + i))
        records.append(edit("Brief Co", f"Hi Sam,\n\n{long_body}.", f"Hi Sam,\n\n{short_body}."))
    (rule,) = learn_styles(records)["Brief Co"].rules
    assert (rule.kind, rule.rule, rule.evidence) == (
        "length",
        "Keep it under 60 words (greeting and body)",
        "6 of 6 edits",
    )


TEMPLATE = """# our template
name = "ours"
system = "Write emails."
user = "{brief}"

[clients."Northwind Analytics"]
# written by a person: must survive a re-learn
style_notes = "Numbers first."
"""


def test_applied_rules_reach_the_prompt_and_person_notes_survive(tmp_path: Path):
    records = [
        edit(
            "Northwind Analytics",
            f"Subject: x\n\nDear {n},\n\nOur dashboard helps.\n\nRegards,\nTeam",
            f"Subject: x\n\nHi {n.split()[0]},\n\nOur dashboard helps.\n\nRegards,\nTeam",
            recipient=f"{n}, COO",
        )
        for n in ["Sam Lee", "Ana Ruiz", "Bo Chen"]
    ]
    findings = learn_styles(records)
    fragment = render_fragment(findings, "test", MiningOptions())
    assert "# Northwind Analytics: 3 edits; 1 rules" in fragment
    learned = read_fragment(fragment, "fragment.toml")
    merged = apply_notes(TEMPLATE, learned)
    assert merged.startswith("# our template\n")
    assert "# written by a person: must survive a re-learn" in merged
    template = parse_template(merged)
    style = template.client_style("northwind analytics")
    assert style.style_notes == "Numbers first."
    assert [(n.kind, n.rule, n.evidence) for n in style.learned] == [
        ("greeting", 'Open with "Hi {first_name},"', "3 of 3 edits")
    ]
    data = {"client": "Northwind Analytics", "recipient": "Maria Lopez, CFO", "brief": "Pitch."}
    system = build_messages(data, template)[0]["content"]
    assert system == (
        'Write emails.\n\nClient style notes:\nNumbers first.\n- Open with "Hi Maria,"'
    )
    # Applying the same rules again changes nothing; an empty re-learn clears only the rules.
    assert apply_notes(merged, learned) == merged
    cleared = parse_template(apply_notes(merged, {"Northwind Analytics": ()}))
    assert cleared.client_style("Northwind Analytics").learned == ()
    assert cleared.client_style("Northwind Analytics").style_notes == "Numbers first."
    assert cleared.sha256 == parse_template(TEMPLATE).sha256


def test_styles_cli_learns_from_an_export_and_applies_as_a_candidate(tmp_path: Path):
    export = tmp_path / "export.json"
    export.write_text(json.dumps(simulated_tasks(["Kestrel Freight"], 6)))
    notes = tmp_path / "styles.toml"
    runner = CliRunner()
    env = {"REDRAFT_HOME": str(tmp_path / "home"), "OPENAI_API_KEY": "k"}
    result = runner.invoke(
        cli, ["styles", "learn", "--from-file", str(export), "-o", str(notes)], env=env
    )
    assert result.exit_code == 0, result.output
    assert "read 6 tasks: 6 edits to learn from" in result.stderr
    text = notes.read_text()
    assert '[[clients."Kestrel Freight".learned]]' in text
    assert 'rule = "Open with \\"Morning {first_name},\\""' in text

    dry = runner.invoke(cli, ["styles", "apply", str(notes), "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    assert '+[[clients."Kestrel Freight".learned]]' in dry.stdout
    registry = Registry(Settings.from_env(env).registry_path)
    assert registry.list() == []

    applied = runner.invoke(cli, ["styles", "apply", str(notes), "--name", "notes1"], env=env)
    assert applied.exit_code == 0, applied.output
    version = registry.get("notes1")
    assert (version.trainer, version.status, version.model_id) == (
        "notes",
        "candidate",
        "gpt-4o-mini",
    )
    template = load_template(Path(version.metrics["template"]))
    assert template.sha256 == version.template_sha256
    kestrel = template.client_style("Kestrel Freight")
    assert 'Open with "Morning {first_name},"' in [n.rule for n in kestrel.learned]

    again = runner.invoke(cli, ["styles", "learn", "--from-file", str(tmp_path / "none.json")])
    assert again.exit_code == 2


def test_styles_learn_needs_exactly_one_source():
    result = CliRunner().invoke(cli, ["styles", "learn"])
    assert result.exit_code == 2
    assert "give exactly one of --project ID|TITLE or --from-file FILE" in result.output


@pytest.mark.parametrize(
    "fragment, message",
    [
        ('[[clients."A".learned]]\nkind = "x"\n', "has no `rule` text"),
        ('[[clients."A".learned]]\nrule = "r"\nweight = 2\n', "may only set"),
        ("nothing = 1\n", "make one with `redraft styles learn`"),
    ],
)
def test_a_broken_fragment_is_refused_with_the_fix(fragment: str, message: str):
    from redraft.errors import TemplateError

    with pytest.raises(TemplateError, match=message):
        read_fragment(fragment, "styles.toml")


def test_the_report_shows_how_often_each_version_follows_the_learned_rules(tmp_path: Path):
    naive = simulated_tasks(["Kestrel Freight"], 4, version="v1")
    styled = simulated_tasks(["Kestrel Freight"], 4, version="v2", styled=True)
    for offset, task in enumerate(styled, start=100):
        task["id"] = task["annotations"][0]["id"] = task["predictions"][0]["id"] = offset
        task["annotations"][0]["parent_prediction"] = offset
    export = tmp_path / "export.json"
    export.write_text(json.dumps(naive + styled))
    template = tmp_path / "template.toml"
    template.write_text(
        'system = "Write."\nuser = "{brief}"\n'
        '[[clients."Kestrel Freight".learned]]\nkind = "greeting"\n'
        'rule = "Open with \\"Morning {first_name},\\""\nexample = "Morning {first_name},"\n'
    )
    env = {"REDRAFT_HOME": str(tmp_path / "home"), "REDRAFT_TEMPLATE": str(template)}
    out = tmp_path / "report"
    result = CliRunner().invoke(
        cli, ["report", "--from-file", str(export), "-o", str(out)], env=env
    )
    assert result.exit_code == 0, result.output
    assert (out / "style_rules.csv").read_text() == (
        "client,rule,model_version,drafts,following,share\n"
        'Kestrel Freight,"Open with ""Morning {first_name},""",v1,4,0,0\n'
        'Kestrel Freight,"Open with ""Morning {first_name},""",v2,4,4,1\n'
    )
    html = (out / "report.html").read_text()
    assert "Learned style rules: drafts that already follow them" in html
    assert "<td>100% (4)</td>" in html


def test_the_report_checks_the_rules_of_the_version_the_project_drafts_with(tmp_path: Path):
    from redraft.training.registry import ModelVersion, Registry

    tasks = simulated_tasks(["Kestrel Freight"], 3, version="v2", styled=True)
    for task in tasks:
        task["project"] = 7
    export = tmp_path / "export.json"
    export.write_text(json.dumps(tasks))
    template = tmp_path / "notes.toml"
    template.write_text(
        'system = "Write."\nuser = "{brief}"\n'
        '[[clients."Kestrel Freight".learned]]\nkind = "greeting"\n'
        'rule = "Open with \\"Morning {first_name},\\""\nexample = "Morning {first_name},"\n'
    )
    home = tmp_path / "home"
    registry = Registry(home / "registry.sqlite3")
    registry.add(ModelVersion(name="n1", model_id="m", trainer="notes", projects=(7,),
                              metrics={"template": str(template)}))  # fmt: skip
    registry.promote("n1", project_id=7)  # project 7's own version; no default one
    out = tmp_path / "report"
    result = CliRunner().invoke(
        cli, ["report", "--from-file", str(export), "-o", str(out)], env={"REDRAFT_HOME": str(home)}
    )
    assert result.exit_code == 0, result.output
    assert (out / "style_rules.csv").read_text().splitlines()[1:] == [
        'Kestrel Freight,"Open with ""Morning {first_name},""",v2,3,3,1'
    ]


def test_summarise_adds_the_models_sentences_as_comments(tmp_path: Path, standin):  # type: ignore[no-untyped-def]
    export = tmp_path / "export.json"
    export.write_text(json.dumps(simulated_tasks(["Kestrel Freight"], 4)))
    env = {
        "REDRAFT_HOME": str(tmp_path / "home"),
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_BASE_URL": standin.base_url,
    }
    result = CliRunner().invoke(
        cli, ["styles", "learn", "--from-file", str(export), "--summarise"], env=env
    )
    assert result.exit_code == 0, result.output
    text = result.stdout
    summary = text[text.index("# Summaries by gpt-4o-mini") :]
    lines = summary.splitlines()
    assert lines[1] == "# Kestrel Freight:"
    assert len(lines) > 2 and all(line.startswith("#   ") for line in lines[2:])
    # The summaries are comments: the mined rules read back the same.
    assert read_fragment(text, "out.toml") == read_fragment(text[: text.index(summary)], "x")


@pytest.mark.e2e
def test_styles_learn_reads_a_live_label_studio_project(ls_client, ls_settings, tmp_path):  # type: ignore[no-untyped-def]
    """Drafts in a real project, annotated by `redraft simulate`, then mined with --project."""
    import uuid

    from redraft.label_config import read_label_config
    from tests.fixtures.labelstudio import run_cli

    made = ls_client.projects.create(
        title=f"styles e2e {uuid.uuid4().hex[:8]}", label_config=read_label_config()
    )
    briefs = make_briefs("Kestrel Freight", 5, seed=11)
    ls_client.projects.import_tasks(
        made.id,
        request=[
            {"data": data, "predictions": [draft_prediction(naive_draft(data), "v1")]}
            for data in briefs
        ],
    )
    simulated = run_cli(["simulate", "--project", str(made.id)], ls_settings)
    assert simulated.exit_code == 0, simulated.output
    notes = tmp_path / "styles.toml"
    learned = run_cli(["styles", "learn", "--project", made.title, "-o", str(notes)], ls_settings)
    assert learned.exit_code == 0, learned.output
    assert "read 5 tasks: 5 edits to learn from" in learned.stderr
    rules = read_fragment(notes.read_text(), str(notes))["Kestrel Freight"]
    by_kind = {note.kind: note for note in rules}
    assert by_kind["greeting"].rule == 'Open with "Morning {first_name},"'
    assert by_kind["greeting"].evidence == "5 of 5 edits"
    assert by_kind["sign_off"].example == "Thanks,\nDana Whitlock\nOperations, Kestrel Freight"


def test_a_fine_tune_on_a_notes_template_drafts_with_it(tmp_path: Path):
    """Export with the active notes version's template; the trained version keeps it."""
    from redraft.training.exportdir import load_export
    from redraft.training.trl_trainer import TrlParams, train_trl

    export_file = tmp_path / "export.json"
    export_file.write_text(json.dumps(simulated_tasks(["Kestrel Freight"], 4)))
    notes = tmp_path / "styles.toml"
    env = {"REDRAFT_HOME": str(tmp_path / "home"), "OPENAI_API_KEY": "k"}
    runner = CliRunner()
    assert runner.invoke(cli, ["styles", "learn", "--from-file", str(export_file),
                               "-o", str(notes)], env=env).exit_code == 0  # fmt: skip
    assert (
        runner.invoke(cli, ["styles", "apply", str(notes), "--name", "n1"], env=env).exit_code == 0
    )
    registry = Registry(Settings.from_env(env).registry_path)
    registry.promote("n1")
    template = registry.get("n1").metrics["template"]
    out = tmp_path / "exp"
    done = runner.invoke(cli, ["export", "--from-file", str(export_file), "-o", str(out)], env=env)
    assert done.exit_code == 0, done.output
    export = load_export(out)
    assert export.template_sha256 == load_template(Path(template)).sha256

    def runner_fn(_export, params, _report):  # the LoRA run itself is tested in test_train_trl
        adapter = params.output_dir / "adapter"
        adapter.mkdir(parents=True)
        return adapter, {}

    params = TrlParams(base_model="base", output_dir=tmp_path / "run")
    version = train_trl(registry, export, params, report=print, name="t1", runner=runner_fn)
    assert version.metrics["template"] == template


def test_no_personal_data_becomes_a_rule():
    """An address, a phone number and a name the writers add to every final are masked in
    the rule, and its evidence says so; the task's own recipient stays a placeholder."""
    people = ["Sam Lee", "Ana Ruiz", "Bo Chen", "Eve Park"]
    records = []
    for person in people:
        data = {"recipient": person, "company": "Acme", "brief": "Offer a demo; cc Alan Turing."}
        body = "We clean teeth well and fast, every single time."
        final = (
            f"Hi {person},\n\n{body} Please copy Alan Turing at alan.turing@example.com or "
            f"call +44 20 7946 0958, {person}."
        )
        records.append(EditRecord("Fjord", f"Hi {person},\n\n{body}", final, data))
    rules = learn_styles(records)["Fjord"].rules
    assert [(r.kind, r.rule, r.evidence) for r in rules if r.kind == "sentence"] == [
        (
            "sentence",
            'Include the sentence "Please copy [name] at [email] or call [phone], {full_name}."',
            "4 of 4 edits; masked: an email address, a phone number, a name",
        )
    ]
    text = json.dumps([(r.rule, r.example) for r in rules])
    assert ("Turing" in text, "example.com" in text, "7946" in text) == (False, False, False)


PEOPLE = ["Sam Lee", "Ana Ruiz", "Bo Chen", "Eve Park", "Raj Patel"]


def test_a_phrase_gone_from_a_rewritten_sentence_is_deleted_unless_it_only_moved():
    """Real writers rewrite the sentence around a stock phrase; the phrase still counts. A
    phrase the writer moved to another sentence, or a sentence only reordered, deletes nothing."""
    drafts_and_finals = [
        (
            "The launch is a testament to your team. Sales rose in May.",
            "Your team launched on time, and sales rose in May.",
        ),
        (
            "Your hiring spree is a testament to growth. We help you onboard.",
            "You hired twelve people this spring. We help you onboard them.",
        ),
        (
            "The new office is a testament to ambition. Tours run daily.",
            "We saw the new office. Tours run daily.",
        ),
        (
            "Your award is a testament to craft. We make signs too.",
            "Congratulations on the award for your signs. We make signs too.",
        ),
    ]
    records = [
        edit("Signal Co", f"Hi Sam,\n\n{draft}", f"Hi Sam,\n\n{final}")
        for draft, final in drafts_and_finals
    ]
    # In two more edits the phrase survives: moved to another sentence, or its sentence reordered.
    records.append(
        edit(
            "Signal Co",
            "Hi Sam,\n\nIt is a testament to care. Our vans are blue.",
            "Hi Sam,\n\nOur vans are blue. It is a testament to care.",
        )
    )
    records.append(
        edit(
            "Signal Co",
            "Hi Sam,\n\nThe vans are blue, which is a testament to care.",
            "Hi Sam,\n\nWhich is a testament to care: the vans are blue.",
        )
    )
    avoid = [
        (r.example, r.evidence)
        for r in learn_styles(records)["Signal Co"].rules
        if r.kind == "avoid"
    ]
    assert avoid == [("is a testament to", "4 of 6 edits")]


def test_one_common_word_needs_far_more_support_than_a_distinctive_phrase():
    """A common word alone ("made", swapped for "built" in 4 of 5 drafts) is no rule: it needs
    9 edits at the defaults; a distinctive phrase deleted from 3 of 3 drafts is one."""
    records = []
    for i, person in enumerate(PEOPLE):
        first = person.split()[0]
        draft = f"Hi {first},\n\nWe made the shelves by hand. Pricing is fair."
        final = f"Hi {first},\n\nWe built the shelves by hand. Pricing is fair."
        if i < 3:
            draft += " Budget is a delicate dance for every shop."
            final += [
                " Every shop finds budgeting hard, we know.",
                " Shops juggle their budget with care every month.",
                " For every shop the budget is always tight.",
            ][i]
        if i == 4:  # "made" stays in one final: 4 of 5 drafts that had it lost it
            final = draft
        records.append(edit("Shelf Co", draft, final, recipient=f"{person}, Owner"))
    found = learn_styles(records)["Shelf Co"]
    assert [(r.kind, r.example, r.evidence) for r in found.rules] == [
        ("avoid", "a delicate dance", "3 of 3 edits")
    ]
    enough = learn_styles(records * 3)["Shelf Co"]  # the same edits three times: 12 of 15
    assert ("replace", "made -> built", "12 of 15 edits") in [
        (r.kind, r.example, r.evidence) for r in enough.rules
    ]


GLOVES = "Our gloves ship in a day from three depots across the region."


def test_a_title_belongs_to_the_greeting_not_the_first_name():
    records = [
        edit(
            "Clinic Supplies",
            f"Hi {name.split()[0]},\n\n{GLOVES}\n\nBest,\nJo",
            f"Dear Dr. {name.split()[-1]},\n\n{GLOVES}\n\nBest,\nJo",
            recipient=f"Dr. {name}, Head of Surgery",
        )
        for name in PEOPLE
    ]
    (rule,) = learn_styles(records)["Clinic Supplies"].rules
    assert (rule.kind, rule.rule, rule.evidence) == (
        "greeting",
        'Open with "Dear Dr. {last_name},"',
        "5 of 5 edits",
    )
    template = parse_template(
        'system = "Write."\nuser = "{brief}"\n[[clients."Clinic Supplies".learned]]\n'
        'kind = "greeting"\nrule = \'Open with "Dear Dr. {last_name},"\'\n'
        'example = "Dear Dr. {last_name},"\n'
    )
    data = {"client": "Clinic Supplies", "recipient": "Dr. Anna Weber, CTO", "brief": "Pitch."}
    assert build_messages(data, template)[0]["content"].endswith('- Open with "Dear Dr. Weber,"')
    # The report's check reads the titled greeting back as following the rule.
    (note,) = template.client_style("Clinic Supplies").learned
    assert [follows(note, f"{g}\n\n{GLOVES}", data) for g in ("Dear Dr. Weber,", "Hi Anna,")] == [
        True,
        False,
    ]


def test_finals_kept_under_a_limit_give_a_word_limit_though_most_drafts_were_short():
    """Three drafts of 60+ words are cut to 40 or fewer; seven short drafts stay as they are.
    The finals are not shorter than the drafts on the whole, but none goes over 40 words."""
    records = []
    for i in range(10):
        words = 64 + i if i < 3 else 20 + i
        draft = " ".join(f"w{j}" for j in range(words))
        final = " ".join(f"w{j}" for j in range(min(words, 36 + i)))
        records.append(edit("Short Co", f"Hi Sam,\n\n{draft}.", f"Hi Sam,\n\n{final}."))
    (rule,) = learn_styles(records)["Short Co"].rules
    assert (rule.kind, rule.rule, rule.evidence, rule.example) == (
        "length",
        "Keep it under 40 words (greeting and body)",
        "3 of 3 edits",
        "every final 40 words or fewer (median 29.5); 3 of 10 drafts were longer and cut",
    )


def test_rules_come_strongest_evidence_first_whatever_their_kind():
    records = []
    for i, person in enumerate(PEOPLE * 2):
        first = person.split()[0]
        final_body = "Our vans run at night across the county and are back by dawn."
        body = final_body.replace("Our", "Our cutting-edge") if i < 6 else final_body
        greeting = "Morning" if i < 7 else "Hi"
        records.append(
            edit(
                "Van Co",
                f"Hi {first},\n\n{body}\n\nBest,\nJo",
                f"{greeting} {first},\n\n{final_body}\n\nBest,\nJo",
                recipient=f"{person}, COO",
            )
        )
    found = learn_styles(records)["Van Co"]
    assert [(r.kind, r.evidence) for r in found.rules] == [
        ("avoid", "6 of 6 edits"),  # every draft that had it: the strongest evidence
        ("greeting", "7 of 10 edits"),
    ]


def test_an_export_puts_the_style_notes_it_learns_into_the_training_prompts(tmp_path: Path):
    """By default `export` mines the edits it reads and trains with the rules in the prompt;
    the version trained on it drafts with that template. --no-style-notes leaves them out."""
    from redraft.styles.source import edit_records
    from redraft.training.exportdir import load_export, trained_template
    from tests.fixtures.exports import read_jsonl

    export_file = tmp_path / "export.json"
    tasks = simulated_tasks(["Kestrel Freight"], 6)
    export_file.write_text(json.dumps(tasks))
    env = {"REDRAFT_HOME": str(tmp_path / "home"), "OPENAI_API_KEY": "k"}
    runner = CliRunner()
    edits = edit_records(tasks, load_template(None)).records
    learned = learn_styles(edits)["Kestrel Freight"].rules

    done = runner.invoke(
        cli, ["export", "--from-file", str(export_file), "-o", str(tmp_path / "noted")], env=env
    )
    assert done.exit_code == 0, done.output
    export = load_export(tmp_path / "noted")
    template_path = Path(export.manifest.source["template_path"])
    assert template_path.parent == tmp_path / "home" / "templates"
    assert export.manifest.source["learned_rules"] == len(learned)
    assert (
        f"style notes: {len(learned)} rules learned from these edits are in the training prompts "
        f"({template_path}); the version trained on this export drafts with them "
        "(--no-style-notes leaves them out)"
    ) in done.stderr
    template = load_template(template_path)
    assert export.template_sha256 == template.sha256
    assert [n.rule for n in template.client_style("Kestrel Freight").learned] == [
        r.rule for r in learned
    ]
    (row, *_) = read_jsonl(tmp_path / "noted" / "trl_sft.train.jsonl")
    system = row["messages"][0]["content"]
    assert '- Open with "Morning ' in system
    assert trained_template(export) == {
        "template": str(template_path),
        "learned_rules": len(learned),
    }

    args = ["export", "--from-file", str(export_file), "-o", str(tmp_path / "plain")]
    plain = runner.invoke(cli, [*args, "--no-style-notes"], env=env)
    assert plain.exit_code == 0, plain.output
    export = load_export(tmp_path / "plain")
    assert "learned_rules" not in export.manifest.source
    assert "template_path" not in export.manifest.source
    assert export.template_sha256 == load_template(None).sha256
    (row, *_) = read_jsonl(tmp_path / "plain" / "trl_sft.train.jsonl")
    assert "Morning" not in row["messages"][0]["content"]
    assert trained_template(export) == {}


def test_words_lost_with_sentences_cut_to_a_length_make_no_rule():
    """A writer who cuts most sentences of every draft loses "bikes" with them: that says
    nothing about the word. A stock sentence cut where the writers keep most sentences does."""
    cutter = [
        edit(
            "Quarry",
            "Hi Sam,\n\nWe sell bikes. Our bikes are light. Call us today. Riders love bikes. "
            "Bikes ship free.",
            "Hi Sam,\n\nCall us today.",
        )
        for _ in range(6)
    ]
    keeper = [
        edit(
            "Signal Co",
            "Hi Sam,\n\nI hope this finds you well. We sell signs. Our signs glow.",
            "Hi Sam,\n\nWe sell signs. Our signs glow.",
        )
        for _ in range(6)
    ]
    found = learn_styles(cutter + keeper)
    avoid = {
        client: [(r.example, r.evidence) for r in findings.rules if r.kind == "avoid"]
        for client, findings in found.items()
    }
    assert avoid == {"Quarry": [], "Signal Co": [("i hope this finds you well", "6 of 6 edits")]}
