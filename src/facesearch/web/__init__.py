"""Browser UI: server-rendered pages (Jinja2) with small scripts; every asset is served by the app."""
