"""The model host: one process that loads the embedded models once per machine and serves
every relay worker's requests for them over a Unix socket.

`python -m llmrelay.model_host --config FILE --data-dir DIR [--socket PATH]` runs it
(`__main__`, `server`); a relay whose environment names the socket in `LLMRELAY_MODEL_HOST`
reaches its local providers through it (`providers/local_remote.py`) instead of loading
them itself. The frames both sides speak are in `wire`; docs/model-host.md has the whole.
"""

from __future__ import annotations

from pathlib import Path

MODEL_HOST_ENV = "LLMRELAY_MODEL_HOST"
"""The environment variable that tells a relay worker where the model host listens."""
SOCKET_NAME = "model-host.sock"


def default_socket(data_dir: Path) -> Path:
    """Where the host listens when no `--socket` is given: in the relay's data directory."""
    return data_dir / SOCKET_NAME
