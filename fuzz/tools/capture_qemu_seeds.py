#!/usr/bin/env python3
"""Captures the hand-over data QEMU gives vmfw and writes it as fuzz seeds.

Boots a vmfw ELF (PVH) under QEMU TCG without disks, lets it power off
(`-no-shutdown` keeps the guest's memory), saves guest RAM through QMP,
then follows the pointers a firmware follows (PVH start info -> memory
map, module list, command line; RSDP -> RSDT/XSDT -> tables -> FADT ->
DSDT) and writes what it found in the `src/phys.rs` input format:

  seeds/pvh/qemu-<machine>       start info, memory map, modules, cmdline
  seeds/acpi/qemu-<machine>      RSDP and every table reachable from it
  seeds/cmdline/qemu-<machine>   the command line bytes

Usage (from fuzz/): tools/capture_qemu_seeds.py VMFW_ELF
Needs qemu-system-x86_64. The machines and options are in MACHINES below.
"""
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time

PVH_MAGIC = 0x336EC578
MIB = 1 << 20
MEM = 256 * MIB
# One blank virtio-blk disk, so microvm describes a virtio-mmio device.
DISK = ["-drive", "if=none,id=d0,format=raw,file={disk}", "-device", "virtio-blk-device,drive=d0"]
MACHINES = {
    # q35 with SeaBIOS and QEMU's PVH option ROM; an initrd becomes the
    # module list, the hint is what a user could add by hand.
    "q35": ["-M", "q35", "-initrd", "{initrd}", "-append",
            "console=ttyS0 vmfw.log=debug virtio_mmio.device=4K@0xd0000000:5"],
    # microvm with ACPI: virtio-mmio transports described in the DSDT.
    "microvm": ["-M", "microvm", *DISK, "-append", "console=ttyS0 vmfw.log=debug"],
    # microvm without ACPI: QEMU appends virtio_mmio.device= per transport.
    "microvm-noacpi": ["-M", "microvm,acpi=off", *DISK, "-append",
                       "console=ttyS0 vmfw.log=debug"],
}


def capture(elf, name, extra, tmp):
    sock = os.path.join(tmp, name + ".qmp")
    serial = os.path.join(tmp, name + ".serial")
    initrd = os.path.join(tmp, "initrd")
    with open(initrd, "wb") as f:
        f.write(b"vmfw fuzz seed module\n")
    disk = os.path.join(tmp, "disk")
    with open(disk, "wb") as f:
        f.truncate(MIB)
    args = [a.replace("{initrd}", initrd).replace("{disk}", disk) for a in extra]
    p = subprocess.Popen(["qemu-system-x86_64", "-accel", "tcg", "-m", str(MEM // MIB),
                          "-kernel", elf, *args, "-display", "none", "-no-shutdown",
                          "-no-reboot", "-qmp", f"unix:{sock},server,nowait",
                          "-serial", f"file:{serial}"])
    for _ in range(300):
        time.sleep(0.1)
        if os.path.exists(serial) and b"powering off" in open(serial, "rb").read():
            break
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock)
    f = s.makefile("rw")
    f.readline()

    def qmp(cmd, **a):
        f.write(json.dumps({"execute": cmd, "arguments": a}) + "\n")
        f.flush()
        while True:
            r = json.loads(f.readline())
            if "return" in r or "error" in r:
                return r

    qmp("qmp_capabilities")
    dump = os.path.join(tmp, name + ".ram")
    qmp("pmemsave", val=0, size=MEM, filename=dump)
    qmp("quit")
    p.wait()
    return open(dump, "rb").read()


def encode(flags, limit, start, records):
    out = bytes([flags]) + struct.pack("<QQ", limit, start)
    for addr, data in records:
        for off in range(0, len(data), 0xFFFF):
            part = data[off:off + 0xFFFF]
            out += struct.pack("<QH", addr + off, len(part)) + part
    return out


def cstr(ram, at):
    end = ram.index(b"\0", at)
    return ram[at:end + 1]


def pvh_seed(ram):
    # The magic also occurs in the option ROM's code: take the first
    # 8-aligned copy whose version is 1 or more.
    at = -1
    while True:
        at = ram.find(struct.pack("<I", PVH_MAGIC), at + 1)
        if at < 0:
            return None, None
        if at % 8 == 0 and struct.unpack_from("<I", ram, at + 4)[0] >= 1:
            break
    (_, _, _, nmod, modl, cmdl, rsdp, mm, mmn) = struct.unpack_from("<IIIIQQQQI", ram, at)
    recs = [(at, ram[at:at + 56])]
    if mm:
        recs.append((mm, ram[mm:mm + 24 * mmn]))
    if nmod and modl:
        recs.append((modl, ram[modl:modl + 32 * nmod]))
    cmd = cstr(ram, cmdl) if cmdl else b""
    if cmdl:
        recs.append((cmdl, cmd))
    return encode(0, MEM, at, recs), (rsdp, cmd)


def table(ram, addr):
    length = struct.unpack_from("<I", ram, addr + 4)[0]
    return ram[addr:addr + length]


def acpi_seed(ram, rsdp):
    if not rsdp:
        for a in range(0xE0000, 0x100000, 16):
            if ram[a:a + 8] == b"RSD PTR ":
                rsdp = a
                break
        else:
            return None
    r = ram[rsdp:rsdp + 36]
    recs = [(rsdp, r if r[15] >= 2 else r[:20])]
    if r[15] >= 2:
        root, size = struct.unpack_from("<Q", r, 24)[0], 8
    else:
        root, size = struct.unpack_from("<I", r, 16)[0], 4
    rt = table(ram, root)
    recs.append((root, rt))
    for i in range(36, len(rt), size):
        a = int.from_bytes(rt[i:i + size], "little")
        t = table(ram, a)
        recs.append((a, t))
        if t[:4] == b"FACP":
            dsdt = struct.unpack_from("<I", t, 40)[0]
            if len(t) >= 148 and struct.unpack_from("<Q", t, 140)[0]:
                dsdt = struct.unpack_from("<Q", t, 140)[0]
            recs.append((dsdt, table(ram, dsdt)))
    return encode(1, MEM, rsdp, recs)


def main():
    elf = sys.argv[1]
    seeds = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "seeds")
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra in MACHINES.items():
            ram = capture(elf, name, extra, tmp)
            pvh, info = pvh_seed(ram)
            if pvh is None:
                print(f"{name}: no PVH start info found")
                continue
            rsdp, cmd = info
            out = {"pvh": pvh, "cmdline": cmd, "acpi": acpi_seed(ram, rsdp)}
            for target, data in out.items():
                if not data:
                    continue
                os.makedirs(os.path.join(seeds, target), exist_ok=True)
                with open(os.path.join(seeds, target, "qemu-" + name), "wb") as f:
                    f.write(data)
                print(f"{name}: seeds/{target}/qemu-{name} ({len(data)} bytes)")


if __name__ == "__main__":
    main()
