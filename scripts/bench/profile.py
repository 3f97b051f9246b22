"""Where a server's CPU time goes under load: py-spy samples, sorted into the layers of the stack.

``make bench`` profiles a round of full flows on our server and on the SDK baseline, so the
gap between them can be read layer by layer: the HTTP server under both (uvicorn, h11, asyncio)
should cost the same, and what differs is the work above it. Each sample is put in the layer of
its innermost frame that names one (a JSON encoder called by our code counts as our code), and
a layer's share of the samples times the server's CPU time per flow gives its milliseconds.
"""

import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from scripts.stack import ROOT

PY_SPY = ROOT / ".venv" / "bin" / "py-spy"
#: Layers by the path of a frame's file (py-spy names it from its package: ``starlette/routing.py``).
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("SQLite (statements, commits)", ("authorization_server/db.py",)),
    ("JWT signing", ("jwt/", "cryptography/")),
    ("logging", ("logging/",)),
    ("pydantic", ("pydantic/", "pydantic_core/")),
    ("Starlette", ("starlette/",)),
    ("HTTP server and event loop", ("uvicorn/", "h11/", "asyncio/", "selectors.py", "socket.py")),
)
APPLICATION = "application (ours, or the SDK's and its provider)"
#: The application's own code: our packages, and the SDK's with the baseline's provider.
APPLICATION_CODE = ("authorization_server/", "shared/", "scripts/", "mcp/")


def layer_of(stack: list[str]) -> str:
    """The layer of one sampled stack (outermost frame first); ``other`` if no frame names one."""
    for frame in reversed(stack):
        for layer, markers in LAYERS:
            if any(marker in frame for marker in markers):
                return layer
        if any(code in frame for code in APPLICATION_CODE):
            return APPLICATION
    return "other"


def breakdown(raw: Path) -> Counter[str]:
    """Samples per layer from py-spy's ``--format raw`` output (one ``stack count`` line per stack)."""
    layers: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            layers[layer_of(stack.split(";"))] += int(count)
    return layers


def profile(pid: int, seconds: float, load: Callable[[], float], out: Path) -> dict[str, float]:
    """Run ``load`` (which returns the server's CPU ms per unit) under py-spy; ms per unit for each layer.

    ``--gil`` keeps the samples of the thread holding the interpreter, the one doing Python work,
    so the database thread counts and idle waits do not.
    """
    command = [str(PY_SPY), "record", "-p", str(pid), "-d", str(round(seconds)), "-r", "200"]
    command += ["-f", "raw", "--gil", "--nonblocking", "-o", str(out)]
    spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cpu_ms = load()
    spy.wait(timeout=seconds + 60)
    layers = breakdown(out)
    total = sum(layers.values()) or 1
    return {layer: cpu_ms * count / total for layer, count in layers.most_common()}
