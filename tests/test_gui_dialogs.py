"""Questions open over the panel, not in a screen corner: the upload, hosted-format and close dialogs are centred
over the window that asked (checked on the virtual display, where nothing but our request places a window)."""
from __future__ import annotations

import time

from tests.conftest_gui import FakeActions, build, gui_display, pump, tk_root  # noqa: F401 (fixtures)
from tests.test_gui_dataset_formats import finished


def settle(*windows) -> None:
    for _ in range(3):
        for window in windows:
            window.update()
        time.sleep(0.05)


def assert_centred_over(dialog, window) -> None:
    settle(window, dialog)
    centre_x = dialog.winfo_rootx() + dialog.winfo_width() // 2
    centre_y = dialog.winfo_rooty() + dialog.winfo_height() // 2
    left, top = window.winfo_rootx(), window.winfo_rooty()
    assert abs(centre_x - (left + window.winfo_width() // 2)) <= 2, (dialog.winfo_geometry(), window.winfo_geometry())
    assert top < centre_y < top + window.winfo_height(), (dialog.winfo_geometry(), window.winfo_geometry())
    assert str(dialog.transient()) == str(window)


def test_the_cloud_upload_question_opens_centred_over_the_window(tk_root):
    from gui.views.cloud_consent import CloudUploadDialog
    tk_root.geometry("1100x720+150+60")
    settle(tk_root)
    dialog = CloudUploadDialog(tk_root, "These files hold the messages of 7 people.", lambda: None)
    assert_centred_over(dialog, tk_root)


def test_the_hosted_format_question_opens_centred_and_names_the_service(tk_root):
    from core.dataset.leaving import confirmation_text
    from gui.views.dataset import DatasetView
    tk_root.geometry("1100x720+40+30")
    actions = FakeActions(returns={"start_prepare": "prepare-1", "upload_confirmation": confirmation_text(8),
                                   "start_dataset_format": "format-1", "curation_counts": {}})
    view, bus, subscription = build(tk_root, DatasetView, actions)
    view.format.set("openai")
    view.prepare_button.invoke()
    bus.publish(finished("prepare-1"))
    pump(tk_root, subscription, [view])
    assert "Write the OpenAI / Together / Fireworks files now?" in view.dialog_text.cget("text")
    assert_centred_over(view.dialog, tk_root)


def test_the_close_question_opens_centred_over_the_window(tk_root):
    from gui.close_dialog import CloseDialog
    tk_root.geometry("900x600+200+100")
    settle(tk_root)
    dialog = CloseDialog(tk_root, [("job-1", "train", "running")], tray=False)
    assert_centred_over(dialog, tk_root)
