from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import ServerProcess


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A real `twistd -n chat` on a loopback port chosen by the OS."""
    process = ServerProcess(tmp_path)
    yield process
    process.kill()
