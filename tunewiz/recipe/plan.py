"""The fine-tune plan: the edited copies (in memory) and what changed and why.

Nothing is written here; :mod:`tunewiz.recipe.run` writes a plan's files in one
explicit step.  ``files`` maps a file name inside the run folder to its text;
``sources`` maps the same name to the source file it was copied from.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


def changed_copies(out_dir: Path, files: dict[str, str]) -> list[Path]:
    """Files of ``files`` (name -> text) that already exist in ``out_dir`` with other content."""
    changed = []
    for name, text in files.items():
        p = Path(out_dir) / name
        if p.exists() and p.read_text(errors="replace") != text:
            changed.append(p)
    return changed


@dataclass
class Section:
    """A titled list of lines of the plan (changes, checks, warnings...)."""

    title: str
    lines: list[str] = field(default_factory=list)


@dataclass
class FinetunePlan:
    """Everything a fine-tune run needs, before anything is written."""

    out_dir: Path
    files: dict[str, str] = field(default_factory=dict)
    sources: dict[str, Path] = field(default_factory=dict)
    sections: list[Section] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    schedule: list[tuple[int, float]] = field(default_factory=list)
    weights: list[str] = field(default_factory=list)
    snapshot: str | None = None
    options: object = None  # the FinetuneOptions it was made from (kept in finetune.json)

    def section(self, title: str, lines: list[str]) -> None:
        if lines:
            self.sections.append(Section(title, list(lines)))

    def path(self, name: str) -> Path:
        return self.out_dir / name

    def render(self) -> str:
        """The plan as text for the terminal."""
        out = []
        for sec in self.sections:
            out.append(f"== {sec.title}")
            out += [f"  {line}" for line in sec.lines]
        if self.schedule:
            out.append("== learning-rate schedule (iter: lr)")
            out.append("  " + ", ".join(f"{it}: {lr:.3g}" for it, lr in self.schedule))
        if self.warnings:
            out.append("== warnings")
            out += [f"  ! {w}" for w in self.warnings]
        return "\n".join(out)
