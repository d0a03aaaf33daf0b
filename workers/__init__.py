"""Workers host workflows and activities."""
