"""Time SCALE-Sim 3.0.0 on four ResNet34 / CIFAR-10 convs (one 3x3 conv per stage), one design point.

SCALE-Sim is a cycle-level simulator of a systolic array (here 32 x 32, weight stationary, 64 kB
SRAMs: ``scale.cfg``); hwsim's Eq. 7-9 are analytic. The two do not model the same hardware, so the
ratio in benchmarks/explore_speed.py is time per (design point x layer) of each tool's own model, not
equal work. SCALE-Sim 3.0.0 needs numpy < 2 (with numpy 2.4 it stops with a TypeError in
``double_buffered_scratchpad_mem``), so it runs in its own environment:

    python -m venv /tmp/ssvenv && /tmp/ssvenv/bin/pip install "numpy==1.26.4" scalesim==3.0.0
    cd benchmarks/peers/scalesim && /tmp/ssvenv/bin/python run.py

The topology gives padded input sizes (SCALE-Sim has no padding): 34, 18, 10, 6 for the 32, 16, 8,
4-pixel maps. ``layout.csv`` is the placeholder its loader requires (custom layouts are off).
"""

import contextlib
import io
import tempfile
import time

from scalesim.scale_sim import scalesim

began = time.perf_counter()
sim = scalesim(
    save_disk_space=True,
    verbose=False,
    config="scale.cfg",
    topology="r34.csv",
    layout="layout.csv",
    input_type_gemm=False,
)
with tempfile.TemporaryDirectory() as out, contextlib.redirect_stdout(io.StringIO()):
    sim.run_scale(top_path=out)
seconds = time.perf_counter() - began
print(f"SCALE-Sim 3.0.0, 4 ResNet34 convs, one design point: {seconds:.2f} s = {seconds / 4:.2f} s per layer")
