"""The API gateway: authenticates, validates, and starts/signals/updates/queries workflows. It never
runs agent logic itself."""
