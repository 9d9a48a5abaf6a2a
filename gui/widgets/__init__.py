"""Shared widgets of the panel: LogView, ProgressRow, Tooltip, ErrorBanner, Chart (one file each)."""
from gui.widgets.banner import ErrorBanner
from gui.widgets.logview import LogView
from gui.widgets.progress import ProgressRow, format_duration
from gui.widgets.tooltip import Tooltip

__all__ = ["ErrorBanner", "LogView", "ProgressRow", "Tooltip", "format_duration"]
# Chart is imported from gui.widgets.chart where it is used: it pulls matplotlib in, which startup avoids.
