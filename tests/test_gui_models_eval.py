"""The Models page's evaluation a user can read, with the real Actions on a real run folder (tests/eval_fixture.py:
six Moonbase Cafe personas): the verdict lines, the attribution heatmap's cells, the examples side by side, and the
blind test dialog storing its picks with the run and moving the score. Also screenshots, light and dark
(DPS_UPDATE_SCREENSHOTS=1 writes the light ones to docs/screenshots/models-eval.png and blind-test.png)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import customtkinter as ctk
import pytest

from core.config.workspace import Workspace
from core.evaluation import blind
from core.evaluation.verdicts import matrix_grid, verdict_lines
from core.jobs.bus import EventBus
from core.jobs.runner import JobRunner
from gui.actions import Actions, NotAvailable
from tests.conftest_gui import build, gui_display, tk_root  # noqa: F401 (fixtures)
from tests.eval_fixture import write_run

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "docs" / "screenshots"


@pytest.fixture
def evaluated(tmp_path):
    bus = EventBus()
    actions = Actions(Workspace.open(tmp_path / "ws"), bus, JobRunner(bus))
    run_dir = write_run(actions.workspace.runs_dir)
    yield actions, run_dir
    actions.runner.shutdown(timeout=5).join(10)


def models_page(root, actions, run_dir):
    from gui.views.models import ModelsView
    view, _bus, _sub = build(root, ModelsView, actions)
    view.rows[run_dir.name].invoke()
    root.update()
    return view


def seed_picks(run_dir: Path, choices: list[str]) -> None:
    folder = run_dir / "eval"
    built = blind.build_pairs(blind.read_examples(folder / blind.EXAMPLES_FILE), size=len(choices), seed=99)
    for (_pair, key), choice in zip(built, choices):
        blind.store_pick(folder / blind.PICKS_FILE, blind.make_pick(key, choice))


def report_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "eval" / "eval.json").read_text(encoding="utf-8"))


def text_of(box) -> str:
    return box.get("1.0", "end").rstrip("\n")


def test_verdicts_and_the_heatmap_show_the_evaluation(tk_root, evaluated):
    actions, run_dir = evaluated
    view = models_page(tk_root, actions, run_dir)
    report = report_of(run_dir)
    *personas, overall = verdict_lines(report)
    assert view.overall.cget("text") == overall
    assert overall.startswith("All personas: 44 of 60 replies recognised as the right persona; real lines: 53 of 60")
    assert text_of(view.verdicts).splitlines() == personas
    assert "Bolt: 5 of 10 replies recognised as Bolt; real lines: 7 of 10; base model: 0 of 10" in personas
    assert not view.banner.visible
    for source in ("tuned", "real", "base"):
        view.heatmap_source._buttons_dict[source].invoke()  # the segmented button, as a click
        tk_root.update()
        rows, columns, counts = matrix_grid(report, source)
        assert rows == ["Pixel", "Marguerite", "Bolt", "Juniper", "Captain Ruckus", "Wren"] and columns == rows
        for row, cells in enumerate(report["attribution_matrix"][source].values()):
            for column, persona in enumerate(report["personas"]):
                assert view.heatmap.cell_text(row, column) == str(cells.get(persona, 0))
    view.heatmap_source._buttons_dict["tuned"].invoke()
    tk_root.update()
    assert view.heatmap.cell_text(2, 0) == "5"  # Bolt's tuned replies heard as Pixel, 5 of 10
    shades = {view.heatmap.cell_fill(row, column) for row in range(6) for column in range(6)
              if view.heatmap.cell_text(row, column) == "0"}
    assert len(shades) == 1 and view.heatmap.cell_fill(2, 0) not in shades  # count, not position, sets the shade


def test_examples_show_context_and_the_three_replies_side_by_side(tk_root, evaluated):
    actions, run_dir = evaluated
    view = models_page(tk_root, actions, run_dir)
    examples = blind.read_examples(run_dir / "eval" / "examples.jsonl")
    pane = view.examples
    assert pane.counter.cget("text") == "1 of 60"
    first = examples[0]
    assert pane.speaker.cget("text") == "Pixel replying to:" and text_of(pane.context) == "\n".join(first["context"])
    for source in ("real", "tuned", "base"):
        assert text_of(pane.boxes[source]) == first[source]
    assert pane.attributed["tuned"].cget("text") == "sounds like Pixel ✓"
    pane.persona_menu._command("Bolt")  # what choosing it in the menu does
    assert pane.counter.cget("text") == "1 of 10" and pane.speaker.cget("text") == "Bolt replying to:"
    bolts = [example for example in examples if example["persona_name"] == "Bolt"]
    for number in range(10):
        assert text_of(pane.boxes["tuned"]) == bolts[number]["tuned"]
        heard = "sounds like Bolt ✓" if bolts[number]["attributed"]["tuned"] == bolts[number]["persona_id"] \
            else "sounds like Pixel"
        assert pane.attributed["tuned"].cget("text") == heard
        pane.next_button.invoke()
    assert pane.counter.cget("text") == "1 of 10"  # paging wraps round


def test_the_blind_test_stores_picks_with_the_run_and_the_score_follows(tk_root, evaluated):
    actions, run_dir = evaluated
    view = models_page(tk_root, actions, run_dir)
    picks_file = run_dir / "eval" / "blind_picks.jsonl"
    examples = blind.read_examples(run_dir / "eval" / "examples.jsonl")
    assert view.blind_score.cget("text") == "Blind test: not taken yet"
    view.blind_button.invoke()
    dialog = view.blind_dialog
    tk_root.update()
    assert dialog.progress.cget("text") == "1 of 10"
    choices = ["A", "B", "cant-tell", "A", "A", "B", "A", "B", "A", "A"]
    for number, choice in enumerate(choices, start=1):
        assert dialog.progress.cget("text") == f"{number} of 10"
        shown = {"A": text_of(dialog.sides["A"]), "B": text_of(dialog.sides["B"])}
        {"A": dialog.a_button, "B": dialog.b_button, "cant-tell": dialog.unsure_button}[choice].invoke()
        stored = blind.read_picks(picks_file)
        assert len(stored) == number and stored[-1]["pick"] == choice
        example = examples[stored[-1]["example"]]
        assert example[stored[-1]["A"]] == shown["A"] and example[stored[-1]["B"]] == shown["B"]  # the key fits
        expected = blind.score_line(blind.score(stored))
        assert view.blind_score.cget("text") == expected
    assert dialog.question.cget("text") == "Done: thank you" and dialog.a_button.cget("state") == "disabled"
    text = picks_file.read_text(encoding="utf-8")
    assert not any(example[source] in text for example in examples for source in ("real", "tuned", "base"))
    stored = blind.read_picks(picks_file)
    decided = [p for p in stored if p["kind"] == "real-tuned" and p["pick"] != "cant-tell"]
    tuned_over_real, decided_real = sum(p[p["pick"]] == "tuned" for p in decided), len(decided)
    assert f"tuned picked over real {tuned_over_real} of {decided_real}" in view.blind_score.cget("text")
    assert "(1 can't tell)" in view.blind_score.cget("text")
    view.rows[run_dir.name].invoke()  # selected again (or after a restart): the score is read from the file
    assert view.blind_score.cget("text") == blind.score_line(blind.score(stored))
    view.blind_button.invoke()  # a second sitting: only pairs not judged before
    again = actions.__dict__["_blind_keys"][run_dir.name].values()
    assert not {(key.example, key.kind) for key in again} & blind.answered_pairs(stored)
    view.blind_dialog.destroy()


def test_a_broken_picks_file_is_one_line_in_the_banner_not_a_crash(tk_root, evaluated):
    actions, run_dir = evaluated
    (run_dir / "eval" / "blind_picks.jsonl").write_text('{"example": 1, "kind": "real-tuned", "A": "real", "B": '
                                                        '"tuned", "pick": "A", "at": "2024-05-01T12:00:00"}\n{"exa',
                                                        encoding="utf-8")
    view = models_page(tk_root, actions, run_dir)
    assert view.banner.visible and "blind_picks.jsonl:2: not valid JSON" in view.banner.text()
    assert view.overall.cget("text").startswith("All personas: 44 of 60")  # the rest of the report still shows
    view.blind_button.invoke()
    assert view.blind_dialog is None and "blind_picks.jsonl:2" in view.banner.text()


def test_a_stale_run_keeps_its_verdicts_but_not_its_replies(tk_root, evaluated):
    from storage.artifacts import mark_stale, register
    actions, run_dir = evaluated
    with actions.connect() as conn:
        mark_stale(conn, [register(conn, "run", run_dir, users=[1210000000000003000])], "Bolt opted out")
    view = models_page(tk_root, actions, run_dir)
    assert view.overall.cget("text").startswith("All personas")
    assert "not shown again" in text_of(view.examples.context) and "Bolt opted out" in text_of(view.examples.context)
    assert text_of(view.examples.boxes["real"]) == "" and view.blind_button.cget("state") == "disabled"
    with pytest.raises(NotAvailable, match="Bolt opted out"):
        actions.blind_test(run_dir.name)


def test_an_evaluation_from_before_examples_jsonl_still_shows_its_verdicts(tk_root, evaluated):
    actions, run_dir = evaluated
    (run_dir / "eval" / "examples.jsonl").unlink()
    report = report_of(run_dir)
    del report["attribution_matrix"]  # written before the matrix too: the heatmap rebuilds it from the rates
    (run_dir / "eval" / "eval.json").write_text(json.dumps(report), encoding="utf-8")
    view = models_page(tk_root, actions, run_dir)
    assert view.overall.cget("text").startswith("All personas: 44 of 60") and not view.banner.visible
    assert view.heatmap.cell_text(2, 0) == "5" and view.heatmap.cell_text(2, 2) == "5"
    assert "kept no examples" in text_of(view.examples.context) and view.blind_button.cget("state") == "disabled"


@pytest.mark.parametrize("mode", ["light", "dark"])
def test_screenshots_of_the_evaluation_and_the_blind_test(gui_display, evaluated, tmp_path, mode):
    from gui.preferences import Preferences, save_preferences
    from tests.test_gui_app import open_app, pump_until, screenshot, settle
    actions, run_dir = evaluated
    save_preferences(actions.workspace.root, Preferences(theme=mode, wizard_done=True))
    seed_picks(run_dir, ["B", "A", "A", "B", "cant-tell", "A", "B", "A"])  # an earlier sitting: the score shows
    app = open_app(actions.workspace, monitor=False)
    target = SCREENSHOTS if os.environ.get("DPS_UPDATE_SCREENSHOTS") and mode == "light" else tmp_path
    try:
        app.nav_buttons["models"].invoke()
        view = app.views["models"]
        view.rows[run_dir.name].invoke()
        view.examples.persona_menu._command("Bolt")
        view.examples.step(5)   # Bolt's sixth: a reply heard as Pixel
        settle(app, 1.0)
        image = screenshot(app, gui_display, target / "models-eval.png")
        assert len(image.getcolors(1 << 16) or range(1 << 16)) > 8 and not app.banner.visible
        assert view.blind_score.cget("text").startswith("Blind test: tuned picked over real")
        view.blind_button.invoke()
        dialog = view.blind_dialog
        dialog.a_button.invoke()
        dialog.unsure_button.invoke()
        settle(app, 1.0)
        screenshot(dialog, gui_display, target / "blind-test.png")
        assert dialog.progress.cget("text") == "3 of 10"
    finally:
        app.quit_app()
        pump_until(app, lambda: app.closed, 30)
        ctk.set_appearance_mode("light")


def test_the_heatmap_numbers_its_columns_when_names_would_collide_and_every_number_reads(tk_root):
    from gui.widgets.heatmap import EMPTY, MUTED, Heatmap, contrast
    names = ["Pixel", "Marguerite", "Bolt", "Juniper", "Captain Ruckus", "Wren"]
    counts = [[row * 6 + column for column in range(6)] for row in range(6)]  # 0..35: every shade
    tk_root.grid_columnconfigure(0, weight=1)
    tk_root.grid_rowconfigure(0, weight=1)
    heatmap = Heatmap(tk_root, height=200)
    heatmap.grid(row=0, column=0, sticky="nsew")
    heatmap.show(names, names, counts)
    tk_root.geometry("700x520")
    tk_root.update()
    assert heatmap.label_texts("column-label") == names and heatmap.label_texts("row-label") == names
    tk_root.geometry("330x250")
    tk_root.update()
    assert heatmap.label_texts("column-label") == ["1", "2", "3", "4", "5", "6"]
    assert heatmap.label_texts("row-label") == [f"{name} ({number})" for number, name in enumerate(names, 1)]
    for mode in ("light", "dark"):
        ctk.set_appearance_mode(mode)
        tk_root.update()
        assert heatmap.cell_fill(0, 0) == EMPTY[mode == "dark"]
        for row in range(6):
            for column in range(6):
                text = heatmap.canvas.itemcget(heatmap.cells[(row, column)][1], "fill")
                ratio = contrast(text, heatmap.cell_fill(row, column))
                assert ratio >= (3.0 if counts[row][column] == 0 else 4.5), (mode, row, column, ratio)
        assert heatmap.canvas.itemcget(heatmap.cells[(0, 0)][1], "fill") == MUTED[mode == "dark"]
    ctk.set_appearance_mode("light")
    heatmap.note("no attribution of base replies in this evaluation")
    assert heatmap.note_text() == "no attribution of base replies in this evaluation" and not heatmap.cells


def test_the_selected_run_names_its_files_and_keeps_the_whole_paths_for_the_tooltip(tk_root, evaluated):
    """Long paths wrapped the Selected run card down over the reply boxes: the card shows file names, the tooltip
    the whole paths, and a hub id stays whole."""
    actions, run_dir = evaluated
    deep = run_dir / "export" / ("a-long-folder-name-" * 4) / "model-q4_k_m.gguf"
    deep.parent.mkdir(parents=True)
    deep.write_bytes(b"GGUF")
    (run_dir / "export" / "export.json").write_text(json.dumps({"gguf": str(deep)}), encoding="utf-8")
    base = "/home/someone/very/long/path/to/the/models/folder/SmolLM2-360M-Instruct.Q8_0.gguf"
    config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    config["base_model"]["source"] = base
    (run_dir / "config.json").write_text(json.dumps(config), encoding="utf-8")
    view = models_page(tk_root, actions, run_dir)
    lines = view.details.cget("text").splitlines()
    assert lines[1:3] == ["base: SmolLM2-360M-Instruct.Q8_0.gguf", "model: model-q4_k_m.gguf"]
    assert view.details_tip.text == f"base: {base}\nmodel: {deep}"
    from gui.views.models import file_name
    assert file_name("HuggingFaceTB/SmolLM2-135M-Instruct") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert file_name(r"C:\Users\me\models\tiny.gguf") == "tiny.gguf"
