"""The data pages (Data, Personas, Dataset, Models), each built with fake actions and a real event bus: published
events change the widgets, buttons call the right verbs, refusals show as readable banners. Training, with a real
fake-worker subprocess, is in test_gui_training.py; curation against real SQLite and prepare in test_gui_curation.py."""
from __future__ import annotations

import json
from pathlib import Path

from core.dataset.browse import ExampleIndex
from core.dataset.personas import PersonaInfo
from core.jobs.events import JobFailed, JobStateChanged, ProgressReported
from gui.actions import NotAvailable
from gui.actions_data import TaskFinished
from gui.actions_runs import RunSummary
from storage.curation import Mark
from tests.conftest_gui import FakeActions, build, gui_display, pump, tk_root  # noqa: F401 (fixtures)

STATS = {"messages": 2033, "replies": 464, "reactions": 537, "authors": 9, "bots": 1, "channels": 5,
         "first": "2024-02-05T10:00:00+00:00", "last": "2024-03-31T10:00:00+00:00",
         "per_month": [("2024-02", 950), ("2024-03", 1083)],
         "top_authors": [{"id": 1, "name": "Wren", "messages": 400}, {"id": 2, "name": "Pixel", "messages": 381}]}


def state(job_id: str, name: str, new: str) -> JobStateChanged:
    return JobStateChanged(job_id=job_id, name=name, state=new, previous="running")


def test_data_page_allowlist_import_progress_failure_and_stats(tk_root):
    from gui.views.data import STATS_TASK, DataView
    actions = FakeActions(returns={"channel_choices": [(11, "Cafe / #general", True), (12, "Cafe / #gaming", False)],
                                   "start_import": "import-1"})
    view, bus, subscription = build(tk_root, DataView, actions)
    assert view.checkboxes[11].get() == 1 and view.checkboxes[12].get() == 0
    view.checkboxes[12].toggle()  # a click: ticks the box and calls the verb
    assert actions.called("set_allowlist") == [(([12], True), {})]
    assert actions.called("in_background")[0][0][0] == STATS_TASK  # the statistics never block the Tk thread
    view.import_paths(["/exports/general.json"])
    assert actions.called("start_import") == [((["/exports/general.json"],), {})]
    bus.publish(ProgressReported(job_id="import-1", step=300, total=1200, eta=4.0))
    bus.publish(ProgressReported(job_id="other-job", step=1, total=2))  # someone else's job stays out
    pump(tk_root, subscription, [view])
    assert view.import_row.progress.text().startswith("300/1,200 · 25%")
    assert view.import_row.cancel_button.cget("state") == "normal"
    view.import_row.cancel_button.invoke()
    assert actions.called("stop_job") == [(("import-1",), {})]
    bus.publish(JobFailed(job_id="import-1", message="general.json: not a DiscordChatExporter file",
                          advice="export the channel as JSON"))
    bus.publish(state("import-1", "import", "failed"))
    bus.publish(TaskFinished(job_id="panel", task=STATS_TASK, result=STATS))
    pump(tk_root, subscription, [view])
    assert "not a DiscordChatExporter file" in view.import_row.message.cget("text")
    assert len(actions.called("channel_choices")) == 2  # the job's end reloads the channels and the stats
    assert view.facts["messages"].cget("text") == "2,033 (464 replies, 537 reactions)"
    assert view.facts["range"].cget("text") == "2024-02-05 – 2024-03-31"
    over_time, authors = view.charts
    assert [bar.get_height() for bar in over_time.axes.patches] == [950, 1083]
    assert [bar.get_width() for bar in authors.axes.patches] == [400, 381]


def test_data_page_fetch_without_a_token_says_why(tk_root):
    from gui.views.data import DataView
    actions = FakeActions(returns={"channel_choices": []},
                          raises={"start_fetch": NotAvailable("no bot token yet", "add the token on Settings")})
    view, bus, subscription = build(tk_root, DataView, actions)
    view.fetch_button.invoke()
    assert view.banner.visible and view.banner.text() == "no bot token yet\nadd the token on Settings"
    assert not view.fetch_row.running


PEOPLE = [PersonaInfo(5, "Wren", 400, False, "cheerful", "Wren", "wren99"), PersonaInfo(6, "Pixel", 381, True)]


def test_personas_page_edits_opt_out_and_forget_with_a_confirmation(tk_root):
    from gui.views.personas import PersonasView
    actions = FakeActions(returns={
        "personas": PEOPLE, "set_opted_out": "optout-1", "forget_persona": "forget-1",
        "balance_shares": [{"name": "Wren", "before": 0.3, "after": 0.2}, {"name": "Pixel", "before": 0.1,
                                                                           "after": 0.2}],
        "forget_preview": {"messages": 400, "artifacts": [("dataset", "/ws/datasets/a"), ("run", "/ws/runs/r1")]}})
    view, bus, subscription = build(tk_root, PersonasView, actions)
    assert "opted out" in view.rows[6].cget("text") and "400 messages" in view.rows[5].cget("text")
    assert [bar.get_height() for bar in view.chart.axes.patches] == [0.3, 0.1, 0.2, 0.2]
    view.rows[5].invoke()
    assert view.name_entry.get() == "Wren" and view.description.get("1.0", "end").strip() == "cheerful"
    view.name_entry.delete(0, "end")
    view.name_entry.insert(0, "Wren the Brave")
    view.rename_button.invoke()
    assert actions.called("rename_persona") == [((5, "Wren the Brave"), {})]
    view.opt_out_switch.toggle()
    assert actions.called("set_opted_out") == [((5, True), {})]
    view.forget_button.invoke()
    text = view.dialog_text.cget("text")
    assert "400 stored messages" in text and "/ws/runs/r1" in text and "cannot be undone" in text
    assert not actions.called("forget_persona")  # nothing happens before the dialog's Forget
    view.dialog_confirm.invoke()
    assert actions.called("forget_persona") == [((5,), {})] and view.dialog is None
    refreshes = len(actions.called("personas"))
    bus.publish(state("forget-1", "forget", "finished"))
    pump(tk_root, subscription, [view])
    assert view.banner.text().startswith("Wren: forget done") and len(actions.called("personas")) == refreshes + 1


def test_personas_page_shows_a_failed_forget_in_words(tk_root):
    from gui.views.personas import PersonasView
    actions = FakeActions(returns={"personas": PEOPLE, "forget_persona": "forget-2",
                                   "forget_preview": {"messages": 3, "artifacts": []}})
    view, bus, subscription = build(tk_root, PersonasView, actions)
    view.select(5)
    view.confirm_forget()
    assert "(none so far)" in view.dialog_text.cget("text")
    view.forget_confirmed()
    bus.publish(JobFailed(job_id="forget-2", message="the forget worker exited with code 1",
                          last_lines=("error: the WAL checkpoint could not finish",)))
    bus.publish(state("forget-2", "forget", "failed"))
    pump(tk_root, subscription, [view])
    assert "error: the WAL checkpoint could not finish" in view.banner.text()


def write_dataset(folder: Path) -> ExampleIndex:
    folder.mkdir(parents=True)
    lines = [json.dumps({"messages": [{"role": "user", "content": f"Ann: hi {n}"},
                                      {"role": "assistant", "content": f"reply {n}"}],
                         "meta": {"persona_id": str(5 + n % 2), "conversation_id": "c", "message_id": str(100 + n),
                                  "timestamp": "2024-02-06T17:49:47"}}) for n in range(4)]
    (folder / "train.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ExampleIndex.build(folder / "train.jsonl")


def test_dataset_page_prepares_previews_and_curates(tk_root, tmp_path):
    from gui.views.dataset import INDEX_TASK, DatasetView
    index = write_dataset(tmp_path / "ds")
    marks: dict[int, Mark] = {}

    def page(index, persona, number, unmarked=False, page_size=1):
        chosen = index.select(persona, exclude=set(marks) if unmarked else None)
        examples = index.read(chosen[number:number + 1])
        return {"items": [{"example": e, "mark": marks.get(e.message_id),
                           "parts": [(e.messages[0]["content"] + "\n", False), (e.answer, True)]} for e in examples],
                "page": number, "pages": len(chosen), "total": len(chosen)}

    def mark(message_id, persona_id, value, better=None):
        marks[message_id] = Mark(message_id, persona_id, value, better, "now")

    actions = FakeActions(returns={
        "dataset_stats": {"created_at": "2026-12-01T10:21", "examples": {"train": 4, "val": 1, "test": 1},
                          "dpo": {"pairs": 0}, "curation": {"dropped_bad": 2}},
        "dataset_preview": [("<|im_start|>user\nhi<|im_end|>\n", False), ("hello<|im_end|>", True)],
        "personas": PEOPLE, "curation_page": page, "mark_example": mark, "start_prepare": "prepare-1",
        "curation_counts": lambda: {"good": sum(m.mark == "good" for m in marks.values()),
                                    "bad": sum(m.mark == "bad" for m in marks.values()), "better": 0}})
    view, bus, subscription = build(tk_root, DatasetView, actions)
    assert "2 dropped as bad" in view.summary.cget("text")
    trained = view.preview._textbox.tag_ranges("trained")
    assert view.preview._textbox.get(trained[0], trained[1]) == "hello<|im_end|>"
    view.options["seed"].insert(0, "x")
    view.prepare_button.invoke()
    assert view.banner.visible and "seed must be a whole number" in view.banner.text()
    view.options["seed"].delete(0, "end")
    view.options["seed"].insert(0, "7")
    view.prepare_button.invoke()
    assert actions.called("start_prepare") == [((), {"personas": "all", "strategy": "multi", "split_by":
                                                     "conversation", "format": "chatml", "min_messages": None,
                                                     "seed": 7})]
    bus.publish(TaskFinished(job_id="panel", task=INDEX_TASK, result=index))
    pump(tk_root, subscription, [view])
    assert view.position.cget("text") == "1 of 4" and "reply 0" in view.example_box.get("1.0", "end")
    assert list(view.personas) == ["all personas", "Wren (2)", "Pixel (2)"]
    view.persona_menu.set("Pixel (2)")
    view.filter_changed()
    assert view.position.cget("text") == "1 of 2" and "reply 1" in view.example_box.get("1.0", "end")
    view.better.insert(0, "a better reply")
    view.bad_button.invoke()
    assert marks[101].mark == "bad" and marks[101].better_answer == "a better reply"
    assert view.position.cget("text") == "2 of 2" and "reply 3" in view.example_box.get("1.0", "end")
    view.good_button.invoke()
    assert marks[103].mark == "good" and view.counts_label.cget("text").startswith("1 good, 1 bad")
    view.unmarked.select()
    view.filter_changed()
    assert view.position.cget("text") == "0 of 0"
    bus.publish(ProgressReported(job_id="prepare-1", step=2033, total=2033))
    bus.publish(state("prepare-1", "prepare", "finished"))
    pump(tk_root, subscription, [view])
    assert len(actions.called("dataset_stats")) == 2  # a finished prepare reloads the dataset


def summary(run_id: str, **changes) -> RunSummary:
    values = dict(run_id=run_id, run_dir=Path("/ws/runs") / run_id, status="finished", step=40, total_steps=40,
                  final_loss=0.075, base_model="SmolLM2", gguf=None, eval_file=None, stale=None)
    values.update(changes)
    return RunSummary(**values)


REPORT = {"personas": {"5": {"name": "Wren", "examples": 20, "perplexity": {"tuned": 12.3, "base": 40.1},
                             "tuned": {"style_similarity": {"paired_mean": 0.61}, "assistant_speak": {"rate": 0.05},
                                       "regurgitation": {"rate": 0.1}}}},
          "overall": {"name": "all personas", "examples": 20, "perplexity": {"tuned": 12.3, "base": None}}}


def test_models_page_lists_runs_exports_evaluates_and_marks_stale_ones(tk_root):
    from gui.views.models import ModelsView
    gguf = Path("/ws/runs/r2/export/model.gguf")
    runs = [summary("r2", gguf=gguf, eval_file=Path("/ws/runs/r2/eval/eval.json")),
            summary("r1", stale="run r1 is stale: Pixel opted out")]
    actions = FakeActions(returns={"run_summaries": runs, "bot_model": str(gguf), "eval_report": REPORT,
                                   "start_export": "export-1", "use_for_bot": gguf},
                          raises={"start_eval": NotAvailable("cannot evaluate: run r1 is stale: Pixel opted out",
                                                             "train a new run on a fresh dataset")})
    view, bus, subscription = build(tk_root, ModelsView, actions)
    assert "exported · evaluated · used by the bot" in view.rows["r2"].cget("text")
    assert view.rows["r1"].cget("text").endswith("STALE") and view.export_button.cget("state") == "disabled"
    view.rows["r2"].invoke()
    table = view.report_box.get("1.0", "end")
    assert "Wren" in table and "12.30" in table and "40.10" in table and "0.61" in table
    assert [bar.get_height() for bar in view.chart.axes.patches] == [12.3, 40.1]
    view.quant.set("q8_0")
    view.export_button.invoke()
    assert actions.called("start_export") == [(("r2", "q8_0"), {})]
    assert view.export_button.cget("state") == "disabled"  # one job at a time from this page
    bus.publish(ProgressReported(job_id="export-1", step=2, total=5, message="quantizing"))
    pump(tk_root, subscription, [view])
    assert view.job_row.progress.text().startswith("2/5")
    bus.publish(state("export-1", "export", "finished"))
    pump(tk_root, subscription, [view])
    assert len(actions.called("run_summaries")) == 2 and view.export_button.cget("state") == "normal"
    view.use_button.invoke()
    assert actions.called("use_for_bot") == [(("r2",), {})] and "model.gguf" in view.banner.text()
    view.rows["r1"].invoke()
    assert "stale: run r1 is stale: Pixel opted out" in view.details.cget("text")
    assert "Not evaluated yet" in view.report_box.get("1.0", "end")
    view.eval_button.invoke()
    assert view.banner.text() == ("cannot evaluate: run r1 is stale: Pixel opted out\n"
                                  "train a new run on a fresh dataset")
