"""README's table of `paper` presets says what the registry holds (it was printed from it; this
keeps it so when a preset changes)."""

import re
from pathlib import Path

from genmodels.registry import model_classes

README = Path(__file__).parents[1] / "README.md"


def shown(settings: dict | None, empty: str) -> str:
    return ", ".join(f"{key}={value}".replace(" ", "") for key, value in (settings or {}).items()) or empty


def test_paper_preset_table_matches_the_registry():
    rows = dict(
        (match[1], (match[2], match[3]))
        for match in re.finditer(r"^\| ([\w-]+) \| (.+?) \| (.+?) \|$", README.read_text(), re.MULTILINE)
    )
    papers = {name: cls for name, cls in model_classes().items() if "paper" in cls.presets}
    assert papers, "no paper presets registered"
    for name, cls in papers.items():
        sizes, recipe = rows[name]
        assert sizes == shown(cls.presets["paper"], "(the Config defaults)"), name
        expected = ", ".join(f"{k}={v}" for k, v in cls.recipes.get("paper", {}).items())
        assert recipe == (expected or "as given on the command line"), name


def test_the_readme_s_screenshots_of_the_app_exist_and_are_not_blank():
    """The pictures README shows of the app (scripts/app_screenshots.py takes them from the zoo)."""
    import numpy as np
    from PIL import Image

    shots = re.findall(r"!\[[^\]]*\]\((docs/images/app-[\w-]+\.png)\)", README.read_text())
    assert len(shots) >= 2, shots
    for shot in shots:
        grey = np.asarray(Image.open(README.parent / shot).convert("L"), dtype=np.float64)
        _, counts = np.unique(grey, return_counts=True)
        assert grey.std() > 5 and counts.max() < 0.95 * grey.size, f"{shot} looks blank"
