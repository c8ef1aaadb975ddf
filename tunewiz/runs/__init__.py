"""The run folder: its file names, the typed event schema, following a run and launching one.

Nothing here imports torch or textual: the wizard, the CLI and scripts read a run with it, and a
fresh interpreter that imports ``tunewiz.runs`` stays light.
"""
