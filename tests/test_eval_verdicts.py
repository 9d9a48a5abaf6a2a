"""The evaluation in plain words (core.evaluation.verdicts): the verdict line per persona and overall, worded for a
reader, for full reports and for the awkward ones (no base, no real attribution, one persona, no examples, an older
eval.json without attribution), and the attribution matrix the heatmap draws, rebuilt for reports that predate it."""
from __future__ import annotations

from core.evaluation.verdicts import (attribution_matrix, matrix_grid, overall_verdict, persona_verdict,
                                      verdict_lines)


def block(rate: float, count: int, confused: dict | None = None) -> dict:
    return {"rate": rate, "count": count, "confused_with": confused or {}}


def persona(name: str, examples: int = 10, **attribution) -> dict:
    return {"name": name, "examples": examples, "attribution": attribution}


def report(personas: dict, count: int | None = None, **extra) -> dict:
    return {"personas": personas, "attribution": {"personas": count if count is not None else len(personas)},
            **extra}


def test_the_persona_line_reads_as_the_brief_words_it():
    wren = persona("Wren", tuned=block(0.8, 10, {"2": 2}), real=block(0.9, 10, {"2": 1}))
    assert persona_verdict(wren, 6) == "Wren: 8 of 10 replies recognised as Wren; real lines: 9 of 10"


def test_a_scored_base_model_is_counted_too_and_rates_round_to_whole_replies():
    bolt = persona("Bolt", examples=7, tuned=block(0.5714, 7), real=block(0.8571, 7), base=block(0.1429, 7))
    assert persona_verdict(bolt, 6) == "Bolt: 4 of 7 replies recognised as Bolt; real lines: 6 of 7; base model: 1 of 7"


def test_missing_real_attribution_is_said_not_skipped():
    pixel = persona("Pixel", tuned=block(0.3, 10))
    assert persona_verdict(pixel, 3) == "Pixel: 3 of 10 replies recognised as Pixel; real lines: not attributed"


def test_one_persona_says_attribution_means_nothing():
    solo = persona("Juniper", tuned=block(1.0, 5), real=block(1.0, 5))
    line = persona_verdict(solo, 1)
    assert line.startswith("Juniper: 5 replies evaluated; with one persona there is no other voice")
    assert "recognised" not in line  # "5 of 5 recognised" would be a trivially perfect score
    assert overall_verdict(report({"1": solo})).startswith("One persona: attribution needs at least two voices")


def test_zero_examples_and_no_attribution():
    assert persona_verdict({"name": "Ghost", "examples": 0}, 4) == "Ghost: no replies were evaluated"
    old = {"name": "Wren", "examples": 12}  # an eval.json written before attribution existed
    assert persona_verdict(old, 4) == ("Wren: 12 replies evaluated; not attributed (this evaluation has no "
                                       "attribution; evaluate again)")
    assert persona_verdict(old, 4, note="no training replies to attribute against").endswith(
        "not attributed (no training replies to attribute against)")
    two_old = report({"5": old, "6": {**old, "name": "Ann"}})
    assert overall_verdict(two_old) == "All personas: not attributed; evaluate again to see which persona each reply " \
                                       "sounds like."
    assert overall_verdict({"personas": {}}) == "No persona was evaluated."


def test_the_overall_line_sums_personas_and_names_chance():
    personas = {"1": persona("Ann", tuned=block(0.8, 10), real=block(0.9, 10), base=block(0.1, 10)),
                "2": persona("Ben", tuned=block(0.4, 5), real=block(0.8, 5), base=block(0.2, 5))}
    assert overall_verdict(report(personas, count=3)) == (
        "All personas: 10 of 15 replies recognised as the right persona; real lines: 13 of 15; base model: 2 of 15; "
        "chance: 5 of 15 (3 personas)")
    blurred = {"1": persona("Ann", tuned=block(0.2, 10), real=block(0.3, 10)),
               "2": persona("Ben", tuned=block(0.3, 10), real=block(0.4, 10))}
    assert overall_verdict(report(blurred, count=4)).endswith(
        "Even the real lines are barely told apart, so these counts say little.")  # 7 of 20 < twice 1 in 4


def test_verdict_lines_are_one_per_persona_in_report_order_then_overall():
    personas = {"2": persona("Ben", tuned=block(0.5, 2), real=block(1.0, 2)),
                "1": persona("Ann", tuned=block(1.0, 2), real=block(1.0, 2))}
    lines = verdict_lines(report(personas))
    assert [line.split(":")[0] for line in lines] == ["Ben", "Ann", "All personas"]


def test_the_matrix_is_read_or_rebuilt_from_rates_and_confusions():
    personas = {"1": persona("Ann", tuned=block(0.6, 5, {"2": 2})),
                "2": persona("Ben", tuned=block(0.0, 4, {"1": 3, "9": 1}))}
    rebuilt = attribution_matrix(report(personas), "tuned")
    assert rebuilt == {"1": {"1": 3, "2": 2}, "2": {"1": 3, "9": 1}}
    stored = report(personas, attribution_matrix={"tuned": {1: {1: 4, 2: 1}}})
    assert attribution_matrix(stored, "tuned") == {"1": {"1": 4, "2": 1}}  # the stored matrix wins, keys as text
    assert attribution_matrix(report(personas), "base") == {}
    rows, columns, counts = matrix_grid(report(personas), "tuned")
    assert rows == ["Ann", "Ben"] and columns == ["Ann", "Ben", "#9"]  # a persona with no test examples: its id
    assert counts == [[3, 2, 0], [3, 0, 1]]
