"""Chapter kernels talk over Unix sockets in a folder of their own, so kernels started side by side cannot clash."""

import os
from pathlib import Path

import pytest

from bookkit.chapters import kernel_manager

pytestmark = pytest.mark.skipif(os.name != "posix", reason="Unix sockets: POSIX only")


def test_the_manager_puts_the_sockets_in_the_folder_given(tmp_path):
    km = kernel_manager(tmp_path)["kernel_manager_class"](kernel_name="python3")
    assert km.transport == "ipc"
    assert Path(km.ip).parent == tmp_path


def test_a_kernel_started_so_runs_code_over_those_sockets(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    code = ("import json, os\nfrom ipykernel.connect import get_connection_file\n"
            "info = json.load(open(get_connection_file()))\n"
            f"print(info['transport'], info['ip'], sorted(os.listdir({str(tmp_path)!r})))")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=120, **kernel_manager(tmp_path)).execute()
    transport, ip, files = nb.cells[0].outputs[0]["text"].split(" ", 2)
    assert (transport, ip) == ("ipc", str(tmp_path / "kernel"))
    assert all(f"kernel-{n}" in files for n in range(1, 6))  # shell, iopub, stdin, control, heartbeat
