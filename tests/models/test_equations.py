"""Every model names the equation it implements (LaTeX, for the app's model page), and its braces
balance, so the page renders it."""

import pytest

from genmodels.registry import model_classes


@pytest.mark.parametrize("name", sorted(model_classes()))
def test_every_model_states_its_equation(name):
    equation = model_classes()[name].equation
    assert len(equation) > 20, name
    depth = 0
    for character in equation.replace(r"\{", "").replace(r"\}", ""):
        depth += {"{": 1, "}": -1}.get(character, 0)
        assert depth >= 0, name
    assert depth == 0, name
    assert equation.count(r"\big(") == equation.count(r"\big)"), name
