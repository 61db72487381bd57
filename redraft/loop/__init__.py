"""Composition above the stages: code that wires several stages together.

The backend with the registry and auto mode (`backend.py`), auto mode's export → train →
gate → promote (`auto.py`), one export as `redraft export` and auto mode run it
(`export.py`), the demo (`demo.py`), forgetting a person everywhere (`forget.py`,
`forgetfiles.py`, `forgetting.py`, `needle.py`) and registering learned style notes as a
version (`styles_versions.py`). Stage packages never import from here; the CLI does.
"""
