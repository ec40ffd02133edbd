"""The `files` sink (sink.py) and its streaming format writers (formats/), publication (publish.py)."""
