"""The MkDocs face of repronotes: hooks only (config.py options, plugin.py hooks, render*.py HTML)."""
