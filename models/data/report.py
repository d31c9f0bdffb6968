"""The preprocessing report: files read, windows per split, files without windows by reason."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from models.data.io import SPLITS


@dataclass
class PreprocessReport:
    input_dir: str
    output_file: str
    num_bars: int
    hop_bars: int
    drum_map: str
    files_found: int = 0
    files_read: int = 0
    files_per_split: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SPLITS, 0))
    windows_per_split: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SPLITS, 0))
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> files
    skipped_files: list[tuple[str, str, str]] = field(
        default_factory=list
    )  # (path, reason, message)
    unknown_pitches: dict[int, int] = field(default_factory=dict)  # pitch -> notes
    split_source: str = "hash"  # "info.csv", "hash" or "info.csv+hash"
    seconds: float = 0.0
    # Files whose time signature changes: (path, kept "bars 1-8 (5 windows), ...", not kept).
    partial_files: list[tuple[str, str, str]] = field(default_factory=list)
    other_instrument_notes: int = 0  # TFRecord input: notes not marked is_drum, skipped

    @property
    def total_windows(self) -> int:
        return sum(self.windows_per_split.values())

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["unknown_pitches"] = {str(k): v for k, v in sorted(self.unknown_pitches.items())}
        return d

    def format_table(self, max_listed: int = 20) -> str:
        lines = [
            f"input      {self.input_dir}",
            f"output     {self.output_file}",
            f"windows    {self.num_bars} bars, hop {self.hop_bars} bar(s), drum map {self.drum_map}, "
            f"splits from {self.split_source}",
            f"files      {self.files_found} found, {self.files_read} read, "
            f"{sum(self.skipped.values())} without windows, {self.seconds:.2f} s",
            "",
            f"{'split':<12}{'files':>8}{'windows':>10}",
        ]
        for s in SPLITS:
            lines.append(
                f"{s:<12}{self.files_per_split.get(s, 0):>8}{self.windows_per_split.get(s, 0):>10}"
            )
        lines.append(
            f"{'total':<12}{sum(self.files_per_split.values()):>8}{self.total_windows:>10}"
        )
        if self.skipped:
            lines += ["", f"{'no windows (reason)':<24}{'files':>8}"]
            lines += [f"{r:<24}{n:>8}" for r, n in sorted(self.skipped.items())]
            # too_short files (GMD's 1-2 bar fills) are expected: list only the others.
            listed = [s for s in self.skipped_files if s[1] not in ("too_short", "no_windows")]
            for path, reason, msg in listed[:max_listed]:
                lines.append(f"  {path}: {reason}: {msg}")
            if len(listed) > max_listed:
                lines.append(f"  ... and {len(listed) - max_listed} more")
        if self.partial_files:
            lines += ["", f"time signature changes: 4/4 parts kept in {len(self.partial_files)} file(s)"]
            for path, kept, not_kept in self.partial_files[:max_listed]:
                lines.append(f"  {path}: kept {kept}; not kept: {not_kept}")
            if len(self.partial_files) > max_listed:
                lines.append(f"  ... and {len(self.partial_files) - max_listed} more")
        if self.other_instrument_notes:
            lines += [
                "",
                f"other instruments: {self.other_instrument_notes} note(s) not marked is_drum skipped",
            ]
        if self.unknown_pitches:
            pitches = ", ".join(f"{p}x{n}" for p, n in sorted(self.unknown_pitches.items()))
            lines += ["", f"unknown pitches (ignored; pitch x notes): {pitches}"]
        return "\n".join(lines)
