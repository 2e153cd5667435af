"""Brazilian rules shared by every entry point (the CRM form, the REST API, the spreadsheet import)."""
