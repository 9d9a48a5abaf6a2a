"""CustomTkinter control panel (views, tray, event pump). Never imports the ML stack."""
