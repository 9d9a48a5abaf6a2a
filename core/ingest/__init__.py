"""Data in from files: DiscordChatExporter JSON and CSV exports, folders and zips (``sources``, ``dce_json``,
``dce_csv``), mapped to storage rows (``dce_mapping``, ``records``) and imported in batches (``importer``)."""
