"""The per-access energies of the built-in hierarchy spec eyeriss-65nm, computed with hwcomponents.

Run in its own Python >= 3.12 venv (hwcomponents needs 3.12; hwsim itself does not import it):

    /root/.pyenv/versions/3.12.1/bin/python -m venv /tmp/hwc
    /tmp/hwc/bin/pip install hwcomponents==1.0.114 hwcomponents-cacti==1.0.40 \
        hwcomponents-library==1.0.58 hwcomponents-neurosim==1.0.43
    # the wheel's CACTI binary needs glibc 2.38; where it does not start, build it from the wheel's source:
    cd "$(/tmp/hwc/bin/python -c 'import hwcomponents_cacti, os; print(os.path.dirname(hwcomponents_cacti.__file__))')/cacti" \
        && mv cacti cacti.shipped && make opt
    /tmp/hwc/bin/python benchmarks/hierarchy_energies.py

Printed on this machine (2026-12-06; CACTI 7 built from hwcomponents-cacti 1.0.40's source with gcc 12),
and written into hwsim/specs/eyeriss-65nm.yaml with this provenance:

    global buffer  110592 B x 64 bit  read  54.302 pJ  write  46.003 pJ  (CACTI, 65 nm, 1 bank, 1 port)
    local          512 B x 16 bit     read   1.177 pJ  write   3.418 pJ  (CACTI, 65 nm)
    DRAM           LPDDR4 x 64 bit    read 512.000 pJ  write 512.000 pJ  (hwcomponents-cacti's 8 pJ/bit table)
    multiply 16 b  4.526 pJ   add 32 b 0.300 pJ   add 16 b 0.150 pJ   (Aladdin, scaled 40 -> 65 nm)
"""

from __future__ import annotations

NODE = 65e-9
LEVELS = {"global buffer": (110592, 64), "local": (512, 16)}


def main() -> None:
    from hwcomponents_cacti import LPDDR4, SRAM
    from hwcomponents_library import AladdinAdder, AladdinMultiplier

    for name, (size_bytes, width) in LEVELS.items():
        sram = SRAM(tech_node=NODE, width=width, size=size_bytes * 8)
        print(
            f"{name:<14} {size_bytes} B x {width} bit  read {sram.read().energy * 1e12:8.3f} pJ  "
            f"write {sram.write().energy * 1e12:8.3f} pJ  (CACTI, 65 nm)"
        )
    dram = LPDDR4(width=64)
    print(
        f"{'DRAM':<14} LPDDR4 x 64 bit  read {dram.read().energy * 1e12:8.3f} pJ  write {dram.write().energy * 1e12:8.3f} pJ"
    )
    mult = AladdinMultiplier(NODE, width=16).multiply().energy * 1e12
    add32 = AladdinAdder(NODE, width=32).add().energy * 1e12
    add16 = AladdinAdder(NODE, width=16).add().energy * 1e12
    print(f"multiply 16 b {mult:.3f} pJ   add 32 b {add32:.3f} pJ   add 16 b {add16:.3f} pJ   (Aladdin, 65 nm)")


if __name__ == "__main__":
    main()
