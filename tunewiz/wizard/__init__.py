"""The Textual wizard (the only package that imports textual)."""
