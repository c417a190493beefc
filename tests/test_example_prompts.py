"""The example configuration checks clean with the shipped prompts alone (R-PROMPTS): every
prompt id examples/acd.yaml names (entries, menus) and those its commented-out opening
hours, emergency message and admin PIN name once switched on, exist in every language
of the file, in freeswitch/prompts/manifest.toml."""

from __future__ import annotations

import io
import re
from pathlib import Path

import yaml

from acd.config import load_config
from acd.config.check import main as check_config
from acd.config.types import prompt_refs
from acd.prompts import missing_lines

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "acd.yaml"
#: Top-level sections the example ships commented out, with their nested lines.
COMMENTED = ("calendars", "emergency", "admin")


def _switched_on(text: str) -> str:
    """``text`` with the commented-out sections of :data:`COMMENTED` uncommented, and the
    queue settings the comment names (`calendar: office`, `closed: {...}`) given to
    ``support``."""
    lines, inside = [], False
    for line in text.splitlines():
        # A section's first line starts it; its nested lines follow, indented.
        inside = bool(re.match(rf"# ({'|'.join(COMMENTED)}):", line)) or (
            inside and line.startswith("#  ")
        )
        lines.append(line[2:] if inside else line)
    data = yaml.safe_load("\n".join(lines))
    for setting in re.findall(r"`((?:calendar|closed): [^`]+)`", text):
        data["queues"]["support"].update(yaml.safe_load(setting))
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def test_the_example_names_prompts_and_every_one_is_shipped_r_prompts() -> None:
    config = load_config(EXAMPLE)
    named = {prompt_id for _, prompt_id in prompt_refs(config)}
    assert {"welcome", "menu_main", "menu_no_input", "menu_invalid"} <= named
    assert missing_lines(config) == []


def test_the_example_with_hours_emergency_and_admin_on_checks_clean_r_prompts(
    tmp_path: Path,
) -> None:
    path = tmp_path / "acd.yaml"
    path.write_text(_switched_on(EXAMPLE.read_text(encoding="utf-8")), encoding="utf-8")
    config = load_config(path)
    assert set(config.calendars) == {"office"} and config.admin.pin_digest() is not None
    assert config.queues["support"].calendar == "office"
    named = {prompt_id for _, prompt_id in prompt_refs(config)}
    assert {"night", "emergency", "meeting", "welcome"} <= named
    out, err = io.StringIO(), io.StringIO()
    assert check_config(path, out, err) == 0, err.getvalue()
    assert "warning" not in out.getvalue(), out.getvalue()
