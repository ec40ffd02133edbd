"""Seeing a run while it goes: the runner's figures (`probe`), as Prometheus metrics
(`metrics`) and as a live view in the browser (`page.html`), served with a token and a rate
limit on 127.0.0.1 (`server`); headwater.cli.observe registers `--metrics-port`,
`--metrics-host` and `--ui` on `run` and `serve`.

Nothing here is imported unless one of those flags is given (or a test asks for it)."""
