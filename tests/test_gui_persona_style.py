"""The Personas page's Style section on a virtual display, with the real actions over a real SQLite workspace: it
says to prepare before anything is computed, shows the stored profile and line, Save stores the owner's line (read
back from SQLite), Reset to computed clears it, and after an opt-out or a forget the page shows no profile."""
from __future__ import annotations

from contextlib import closing

from core.dataset.pipeline import prepare_dataset
from core.jobs.events import JobStateChanged
from gui.views.personas_style import NO_PERSONA, NOT_COMPUTED, OPTED_OUT
from storage import personas as store
from tests.conftest import run_cli
from tests.conftest_gui import build, gui_display, pump, tk_root  # noqa: F401 (fixtures)
from tests.test_persona_profile import ALICE, CAROL, CONFIG, chatty_history

OWN_LINE = "Style: dry humour, never uses emoji."


def stored_style(workspace, user_id: int) -> dict | None:
    with closing(workspace.connect()) as conn:
        return store.styles(conn).get(user_id)


def box_text(view) -> str:
    return view.style_line.get("1.0", "end").strip()


def test_the_style_section_shows_saves_and_resets_the_line_and_forget_clears_it(tk_root, workspace):
    from core.jobs.bus import EventBus
    from gui.actions import Actions
    from gui.views.personas import PersonasView
    with closing(workspace.connect()) as conn:
        chatty_history(late_phrase="zebra").write(conn)
    view, bus, subscription = build(tk_root, PersonasView, Actions(workspace, EventBus()))
    view.rows[ALICE].invoke()
    assert view.style_profile.cget("text") == NOT_COMPUTED and box_text(view) == ""  # before any prepare
    assert view.style_save.cget("state") == "disabled" and view.style_reset.cget("state") == "disabled"

    with closing(workspace.connect()) as conn:
        prepare_dataset(conn, CONFIG, workspace.datasets_dir / "first")
    view.refresh()
    computed = stored_style(workspace, ALICE)["line"]
    shown = view.style_profile.cget("text")
    assert shown.startswith("Typical length: about ") and " · casing: all lowercase · " in shown
    assert "emoji: 🎮" in shown and " · tone: " in shown
    assert box_text(view) == computed and view.style_label.cget("text") == "In prompts\n(computed)"
    assert view.style_save.cget("state") == "normal" and view.style_reset.cget("state") == "disabled"
    assert "Forget or opt-out deletes it." in view.style_note.cget("text")

    view.style_line.delete("1.0", "end")
    view.style_line.insert("1.0", OWN_LINE + "\n")
    view.style_save.invoke()
    assert stored_style(workspace, ALICE)["edited"] == OWN_LINE  # read back from SQLite
    assert box_text(view) == OWN_LINE and view.style_label.cget("text") == "In prompts\n(edited)"
    assert view.style_reset.cget("state") == "normal" and not view.banner.visible
    view.select(CAROL)
    view.select(ALICE)  # picked again: the edit is what the page reads back
    assert box_text(view) == OWN_LINE
    view.style_reset.invoke()
    assert stored_style(workspace, ALICE)["edited"] is None and stored_style(workspace, ALICE)["line"] == computed
    assert box_text(view) == computed and view.style_reset.cget("state") == "disabled"

    view.select(CAROL)
    assert run_cli("personas", "optout", "Carol", workspace=workspace)[0] == 0
    view.refresh()  # as the page does when the opt-out job ends
    assert view.selected.id == CAROL and view.style_profile.cget("text") == OPTED_OUT and box_text(view) == ""
    assert view.style_save.cget("state") == "disabled"

    view.select(ALICE)
    code, _, err = run_cli("personas", "forget", str(ALICE), "--yes", workspace=workspace)
    assert code == 0, err
    view.follow("forget-1", "forget", "Alice")  # the page's forget job ends: it refreshes with nobody picked
    bus.publish(JobStateChanged(job_id="forget-1", name="forget", state="finished", previous="running"))
    pump(tk_root, subscription, [view])
    assert view.selected is None and ALICE not in view.rows and stored_style(workspace, ALICE) is None
    assert view.style_profile.cget("text") == NO_PERSONA and box_text(view) == ""
    assert view.name_entry.get() == "" and view.description.get("1.0", "end").strip() == ""
    assert view.style_save.cget("state") == "disabled"


def test_saving_for_someone_who_opted_out_meanwhile_is_refused_in_the_banner(tk_root, workspace):
    from core.jobs.bus import EventBus
    from gui.actions import Actions
    from gui.views.personas import PersonasView
    with closing(workspace.connect()) as conn:
        chatty_history(late_phrase="zebra").write(conn)
        prepare_dataset(conn, CONFIG, workspace.datasets_dir / "first")
    view, _bus, _subscription = build(tk_root, PersonasView, Actions(workspace, EventBus()))
    view.select(CAROL)
    assert run_cli("personas", "optout", str(CAROL), workspace=workspace)[0] == 0  # another process opts them out
    view.style_line.delete("1.0", "end")
    view.style_line.insert("1.0", OWN_LINE)
    view.style_save.invoke()
    assert view.banner.visible and "Carol (13) opted out: their style profile is deleted" in view.banner.text()
    assert stored_style(workspace, CAROL) is None and box_text(view) == OWN_LINE  # nothing stored, nothing lost


def test_at_the_smallest_window_the_chart_shrinks_and_the_style_section_is_not_clipped(tk_root, workspace):
    from core.jobs.bus import EventBus
    from gui.actions import Actions
    from gui.views.personas import PersonasView
    with closing(workspace.connect()) as conn:
        chatty_history(late_phrase="zebra").write(conn)
        prepare_dataset(conn, CONFIG, workspace.datasets_dir / "first")
    from core.dataset.writer import set_latest
    set_latest(workspace.datasets_dir, workspace.datasets_dir / "first")  # the page draws its chart
    tk_root.geometry("792x620")  # the panel's minimum (960x620) less the sidebar
    tk_root.grid_rowconfigure(0, weight=1)
    tk_root.grid_columnconfigure(0, weight=1)
    view, _bus, _subscription = build(tk_root, PersonasView, Actions(workspace, EventBus()))
    view.select(ALICE)
    for _ in range(5):
        tk_root.update()
    assert view.chart is not None and view.style_state["status"] == "ready"
    card_bottom = view.editor.winfo_rooty() + view.editor.winfo_height()
    for widget in (view.style_profile, view.style_line, view.style_save, view.style_reset, view.style_note,
                   view.forget_button, view.opt_out_switch):
        assert widget.winfo_ismapped() and widget.winfo_height() > 1
        assert widget.winfo_rooty() + widget.winfo_height() <= card_bottom, widget
    chart_card = view.chart_card
    assert chart_card.winfo_rooty() >= card_bottom  # the chart's card comes below, not over it
    assert chart_card.winfo_rooty() + chart_card.winfo_height() <= tk_root.winfo_rooty() + tk_root.winfo_height()
