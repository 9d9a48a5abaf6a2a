"""The Dataset page's format choice: a trainer's format goes with the prepare job; a hosted service's is asked about
when the prepare finishes (the dialog names how many people's messages leave) and written only after Yes."""
from __future__ import annotations

import json

from core.jobs.events import JobStateChanged
from tests.conftest_gui import FakeActions, build, gui_display, pump, tk_root  # noqa: F401 (fixtures)

QUESTION = "These files hold the messages of 8 people: ... Did the people in them agree to that?"


def finished(job_id: str) -> JobStateChanged:
    return JobStateChanged(job_id=job_id, name="prepare", state="finished", previous="running")


def dataset_page(tk_root):
    from gui.views.dataset import DatasetView
    actions = FakeActions(returns={"start_prepare": "prepare-1", "upload_confirmation": QUESTION,
                                   "start_dataset_format": "format-1", "curation_counts": {}})
    view, bus, subscription = build(tk_root, DatasetView, actions)
    return view, bus, subscription, actions


def test_a_trainer_format_goes_with_the_prepare_and_asks_nothing(tk_root):
    view, bus, subscription, actions = dataset_page(tk_root)
    assert list(view.format.cget("values")) == ["chatml", "llamafactory", "axolotl", "openai"]
    view.format.set("axolotl")
    view.prepare_button.invoke()
    assert actions.called("start_prepare")[0][1]["format"] == "axolotl"
    bus.publish(finished("prepare-1"))
    pump(tk_root, subscription, [view])
    assert view.dialog is None and not actions.called("upload_confirmation")


def test_a_hosted_format_is_written_only_after_yes_in_the_dialog(tk_root):
    view, bus, subscription, actions = dataset_page(tk_root)
    view.format.set("openai")
    view.prepare_button.invoke()
    bus.publish(finished("prepare-1"))
    pump(tk_root, subscription, [view])
    assert view.dialog is not None and QUESTION in view.dialog_text.cget("text")
    assert not actions.called("start_dataset_format")
    view.close_dialog()                                    # No: nothing is written
    assert view.dialog is None and not actions.called("start_dataset_format")
    view.prepare_button.invoke()
    bus.publish(finished("prepare-1"))
    pump(tk_root, subscription, [view])
    view.dialog_confirm.invoke()                           # Yes
    assert actions.called("start_dataset_format") == [(("openai",), {})] and view.dialog is None
    assert view.prepare_row.job_id == "format-1"


def test_the_actions_count_the_people_and_start_dataset_format_with_the_yes(workspace, monkeypatch):
    from gui.actions import Actions
    from gui.errors import NotAvailable
    actions = Actions.__new__(Actions)  # only the verbs under test: no bus, no runner
    actions.workspace = workspace
    started = []
    monkeypatch.setattr(actions, "start_job", lambda spec: started.append(spec) or "job-1", raising=False)
    try:
        actions.upload_confirmation()
        raise AssertionError("no dataset yet: NotAvailable expected")
    except NotAvailable:
        pass
    folder = workspace.datasets_dir / "20261207-000000"
    folder.mkdir(parents=True)
    (folder / "stats.json").write_text(json.dumps({"people": {"total": 8, "personas": 6, "others": 2}}))
    (workspace.datasets_dir / "latest").write_text(folder.name + "\n")
    assert "the messages of 8 people" in actions.upload_confirmation()
    assert actions.start_dataset_format("openai") == "job-1"
    argv = started[0].argv
    assert argv[-5:] == ("dataset-format", "openai", "--yes-upload", "--data", str(folder))
    actions.start_prepare(format="openai")                 # the prepare job itself never writes a hosted format
    assert "--format" in started[1].argv and started[1].argv[started[1].argv.index("--format") + 1] == "chatml"
