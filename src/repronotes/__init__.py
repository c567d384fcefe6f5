"""repronotes: reproducible research notes.

Import nothing heavy here: notebooks do `from repronotes import capture`, and the site
build imports the engine without the ML stack.
"""

__version__ = "0.1.0"
