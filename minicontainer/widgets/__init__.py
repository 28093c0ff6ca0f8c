"""Pictures for the lessons, drawn from live state (ipywidgets when present, plain text otherwise)."""
