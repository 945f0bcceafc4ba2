"""The RIE harness itself must not leak emulators: every test run would leave orphans behind,
which starve a 2-core CI machine."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.rie_harness import RieHarness, example_runtime_command, wrapped_bootstrap

pytestmark = pytest.mark.e2e


def _processes_on_port(port: int) -> list[int]:
    """Pids whose command line names 127.0.0.1:`port` (RIE's own listener flags)."""
    needle = f"127.0.0.1:{port}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if needle in cmdline:
                found.append(int(entry))
    return found


def test_started_harness_used_as_context_manager_leaves_no_emulator(
    rie_binary: Path, tmp_path: Path
) -> None:
    bootstrap = wrapped_bootstrap(tmp_path, example_runtime_command())
    harness = RieHarness(rie_binary, bootstrap, env={"LCTRACE_EXPORTER": "none"}).start()
    first_ports = (harness.api_port, harness.invoke_port)
    with harness as rie:
        assert rie.invoke(b'{"n": 1}').body == b'{"n": 1}'
        ports = {*first_ports, rie.api_port, rie.invoke_port}
        assert ports == set(first_ports)  # entering did not start a second emulator elsewhere
    assert [pid for port in ports for pid in _processes_on_port(port)] == []
