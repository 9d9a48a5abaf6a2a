"""The data pages with the real Actions, real workers and real SQLite: the Data page imports the sample server
through the import worker and redraws its statistics; the Dataset page prepares through the prepare worker and pages
the result; the Personas page's opt-out and forget run the CLI as jobs; the Models page's verbs refuse what cannot run
and "use for the bot" writes the bot's model setting."""
from __future__ import annotations

import json
import time

import pytest

from core.config.resources import asset
from core.config.workspace import Workspace
from core.jobs.bus import EventBus
from core.jobs.runner import JobRunner
from core.jobs.runs import create_run
from gui.actions import Actions, NotAvailable
from tests.conftest_gui import gui_display, pump, tk_root  # noqa: F401 (fixtures)

pytestmark = pytest.mark.slow


@pytest.fixture
def real(tmp_path):
    bus = EventBus()
    subscription = bus.subscribe("panel")
    actions = Actions(Workspace.open(tmp_path / "ws"), bus, JobRunner(bus))
    yield actions, bus, subscription
    actions.runner.shutdown(timeout=5).join(10)


def pump_until(root, subscription, views, condition, seconds: float = 90.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the pages did not get there in time")
        pump(root, subscription, views, rounds=1)
        time.sleep(0.05)


def test_import_then_prepare_then_curate_through_the_real_workers(tk_root, real):
    from gui.views.data import DataView
    from gui.views.dataset import DatasetView
    actions, bus, subscription = real
    data = DataView(tk_root, actions, bus)
    data.grid(row=0, column=0, sticky="nsew")
    pump_until(tk_root, subscription, [data], lambda: data.facts["messages"].cget("text") == "0 (0 replies, 0 "
                                                                                            "reactions)")
    data.import_paths([str(asset("sample_server", "export"))])
    pump_until(tk_root, subscription, [data], lambda: data.import_row.state == "finished")
    pump_until(tk_root, subscription, [data], lambda: data.facts["messages"].cget("text").startswith("2,033"))
    assert data.import_row.progress.text() == "done" and len(data.checkboxes) == 3  # the channels appeared
    data.checkboxes[next(iter(data.checkboxes))].toggle()
    assert len(actions.allowlisted_channels()) == 1  # stored in SQLite
    data.destroy()
    page = DatasetView(tk_root, actions, bus)
    page.grid(row=0, column=0, sticky="nsew")
    assert page.position.cget("text") == "no dataset yet"
    page.prepare_button.invoke()
    pump_until(tk_root, subscription, [page], lambda: page.prepare_row.state == "finished")
    pump_until(tk_root, subscription, [page], lambda: page.index is not None)
    assert "train" in page.summary.cget("text") and page.position.cget("text").startswith("1 of ")
    first = page.current["example"]
    page.bad_button.invoke()
    assert actions.curation_counts()["bad"] == 1
    assert page.current["example"].message_id != first.message_id  # on to the next example


def test_opt_out_and_forget_run_the_cli_as_jobs(tk_root, real):
    from gui.views.personas import PersonasView
    actions, bus, subscription = real
    with actions.connect() as conn:
        from core.ingest.importer import import_paths
        import_paths(conn, [asset("sample_server", "export")])
    view = PersonasView(tk_root, actions, bus)
    view.grid(row=0, column=0, sticky="nsew")
    wren = next(person for person in view.people if person.name == "Wren")
    view.select(wren.id)
    view.opt_out_switch.toggle()
    pump_until(tk_root, subscription, [view], lambda: getattr(view, "privacy_job", 1) is None)
    assert view.banner.text().startswith("Wren: opt-out done")
    assert next(p for p in view.people if p.id == wren.id).opted_out
    view.select(wren.id)
    view.opt_out_switch.toggle()  # opting back in is immediate (the database only)
    assert not next(p for p in view.people if p.id == wren.id).opted_out
    view.confirm_forget()
    with actions.connect() as conn:
        stored = conn.execute("SELECT count(*) FROM messages WHERE author_id = ?", (wren.id,)).fetchone()[0]
    assert f"their {stored:,} stored messages" in view.dialog_text.cget("text") and stored >= wren.messages
    view.forget_confirmed()
    pump_until(tk_root, subscription, [view], lambda: getattr(view, "privacy_job", 1) is None)
    assert view.banner.text().startswith("Wren: forget done"), view.banner.text()
    with actions.connect() as conn:
        assert conn.execute("SELECT count(*) FROM messages WHERE author_id = ?", (wren.id,)).fetchone()[0] == 0
    assert all(person.id != wren.id or person.opted_out for person in view.people)


def test_models_verbs_refuse_what_cannot_run_and_set_the_bots_model(real):
    actions, _bus, _subscription = real
    run_dir = create_run(actions.workspace.runs_dir, {"kind": "train", "base_model": {"source": "b", "kind": "gguf"}})
    with pytest.raises(NotAvailable, match="no trained adapter yet"):
        actions.start_export(run_dir.name)
    with pytest.raises(NotAvailable, match="no model exported yet"):
        actions.start_eval(run_dir.name)
    (run_dir / "export").mkdir()
    gguf = run_dir / "export" / "model.gguf"
    gguf.write_bytes(b"GGUF")
    (run_dir / "export" / "export.json").write_text(json.dumps({"gguf": str(gguf)}), encoding="utf-8")
    (run_dir / "eval").mkdir()
    (run_dir / "eval" / "eval.json").write_text(json.dumps({"personas": {}, "overall": {}}), encoding="utf-8")
    summary = actions.run_summaries()[0]
    assert summary.gguf == gguf and summary.eval_file is not None and summary.stale is None
    assert actions.use_for_bot(run_dir.name) == gguf
    assert actions.bot_settings().model_path == str(gguf) and actions.bot_model() == str(gguf)
    from storage.artifacts import mark_stale, register
    with actions.connect() as conn:
        artifact = register(conn, "run", run_dir, users=[5])
        mark_stale(conn, [artifact], "user 5 opted out")
    summary = actions.run_summaries()[0]
    assert summary.stale and "user 5 opted out" in summary.stale
    for verb in (actions.start_export, actions.start_eval, actions.use_for_bot):
        with pytest.raises(NotAvailable, match="user 5 opted out"):
            verb(run_dir.name)
