"""Simulated writers: deterministic, rule-based editors that annotate drafts like people would.

`rules` loads each client's writer from TOML; `writers` edits one draft (pure), applying the
`steps` in order to the `parts` of the email; `annotate` stores the verdicts in Label Studio
as annotations. `redraft simulate` runs them on a project.
"""
