#!/usr/bin/env python3
"""Writes the seeds of the targets whose inputs are built, not captured:
`zero_page`, `cmdline` (hand-written VMM lines), `virtio_blk`,
`efi_varstore` and `fat_ops` (the `fat` seeds with an operation list in
front). Run from fuzz/: tools/make_seeds.py. Formats: each target's docs.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
SEEDS = os.path.join(HERE, "..", "seeds")
GIB = 1 << 30


def put(target, name, data):
    os.makedirs(os.path.join(SEEDS, target), exist_ok=True)
    with open(os.path.join(SEEDS, target, name), "wb") as f:
        f.write(data)


def phys(flags, limit, start, records):
    out = bytes([flags]) + struct.pack("<QQ", limit, start)
    for addr, data in records:
        out += struct.pack("<QH", addr, len(data)) + data
    return out


# Zero page as Firecracker's x86_64 `configure_system` writes it: at
# 0x7000, boot protocol header fields set, the command line at 0x20000,
# E820 = [0, EBDA 0x9fc00) RAM, then RAM from 1 MiB up to the 32-bit MMIO
# gap at 3 GiB and the rest above 4 GiB.
ZP, CMDLINE = 0x7000, 0x20000
FC_CMDLINE = (b"console=ttyS0 reboot=k panic=1 pci=off "
              b"virtio_mmio.device=4K@0xd0000000:5 virtio_mmio.device=4K@0xd0001000:6 "
              b"root=/dev/vda rw\0")


def zero_page(mem, e820, cmdline, rsdp=0):
    zp = bytearray(4096)
    struct.pack_into("<Q", zp, 0x070, rsdp)            # acpi_rsdp_addr
    zp[0x1e8] = len(e820)                              # e820_entries
    struct.pack_into("<H", zp, 0x1fe, 0xAA55)          # boot_flag
    struct.pack_into("<I", zp, 0x202, 0x53726448)      # "HdrS"
    zp[0x210] = 0xFF                                   # type_of_loader
    struct.pack_into("<I", zp, 0x228, CMDLINE)         # cmd_line_ptr
    struct.pack_into("<I", zp, 0x230, 0x0100_0000)     # kernel_alignment
    struct.pack_into("<I", zp, 0x238, len(cmdline))    # cmdline_size
    for i, (a, s, t) in enumerate(e820):
        struct.pack_into("<QQI", zp, 0x2D0 + 20 * i, a, s, t)
    return phys(0, mem, ZP, [(ZP, bytes(zp)), (CMDLINE, cmdline)])


def firecracker_e820(mem):
    if mem <= 3 * GIB:
        return [(0, 0x9FC00, 1), (0x100000, mem - 0x100000, 1)]
    return [(0, 0x9FC00, 1), (0x100000, 3 * GIB - 0x100000, 1), (4 * GIB, mem - 3 * GIB, 1)]


put("zero_page", "firecracker-128m", zero_page(128 << 20, firecracker_e820(128 << 20), FC_CMDLINE))
put("zero_page", "firecracker-6g-acpi",
    zero_page(4 * GIB, firecracker_e820(6 * GIB), FC_CMDLINE, rsdp=0xE0000))

put("cmdline", "firecracker", FC_CMDLINE)
put("cmdline", "hints-all-forms",
    b"virtio_mmio.device=512@0xfeb00e00:12 virtio_mmio.device=0x1000@0xc0001000:7:3 "
    b"virtio_mmio.device=1K@010000:1 virtio_mmio.device=4k@0xffffffffffffefff:5 "
    b"virtio_mmio.device=16T@0:1 vmfw.log=trace vmfw.log=debug quiet\0")


# virtio_blk: opts, max_req, script_len, script, ops.
def blk(opts, max_req, script, ops):
    return bytes([opts, max_req]) + struct.pack("<H", len(script)) + script + ops


def device(flags=0, extra=0, capacity=2048, size_max=0, seg_max=0, blk=0, queue=0, bad=0):
    s = bytes([flags]) + struct.pack("<H", extra)
    s += struct.pack("<Q", capacity) if flags & 4 else struct.pack("<H", capacity)
    s += struct.pack("<I", size_max) + bytes([seg_max])
    s += struct.pack("<I", blk) if flags & 16 else bytes([blk])
    return s + bytes([queue, bad])


def op(kind, lba, blocks):
    return bytes([kind]) + struct.pack("<H", lba) + bytes([blocks])


READS = op(0, 0, 1) + op(0, 1, 16) + op(0, 2000, 16) + op(1, 5, 2) + op(0, 4, 4) + op(2, 0, 0)
# QEMU's virtio-blk: SEG_MAX 126, SIZE_MAX 0, BLK_SIZE 512, FLUSH.
QEMU = device(extra=(1 << 2) | (1 << 6) | (1 << 9), seg_max=126, blk=0)
# Firecracker: FLUSH (with a cache), RO for read-only drives, no limits.
FIRECRACKER_RO = device(extra=(1 << 5) | (1 << 9))
HOSTILE = bytes([128]) + struct.pack("<I", 999) + bytes([144, 152, 7, 136]) + \
    struct.pack("<I", 1 << 31) + bytes([180]) + struct.pack("<H", 3) + bytes([176])
put("virtio_blk", "qemu-direct", blk(0b00101100, 7, QEMU, READS))
put("virtio_blk", "qemu-mmio-v2", blk(0b01001101, 255, QEMU, READS))
put("virtio_blk", "legacy-mmio-v1", blk(0b00001111, 1, device(extra=1 << 9), READS))
put("virtio_blk", "firecracker-ro", blk(0b00001100, 3, FIRECRACKER_RO, READS + op(1, 0, 1)))
put("virtio_blk", "4k-blocks-limits",
    blk(0b10001100, 31, device(extra=(1 << 1) | (1 << 2) | (1 << 6), size_max=4096,
                               seg_max=4, blk=3), READS))
put("virtio_blk", "hostile-answers", blk(0b01001100, 7, QEMU + HOSTILE, READS * 2))
put("virtio_blk", "deferred-then-dead",
    blk(0b00110100, 0, QEMU + bytes([0, 160, 0, 0, 176]), READS + op(3, 0, 0) + READS))


# efi_varstore: limits byte, then ops (see the target).
def setvar(name_i, guid_i, attr_sel, length, append=False, nv_rt=True, raw_attrs=None):
    o = (0x40 if nv_rt else 0) | (0x20 if append else 0)
    if raw_attrs is not None:
        return bytes([0x80, name_i, guid_i, raw_attrs, length, 0])
    return bytes([o, name_i, guid_i, length, 0])


LOADER = (
    setvar(0, 0, 0, 60) + setvar(1, 0, 0, 2)          # Boot0001, BootOrder
    + setvar(2, 0, 0, 80) + setvar(1, 0, 0, 2, append=True)
    + bytes([3, 1, 0, 1])                              # GetVariable BootOrder, 1-byte buffer
    + bytes([4, 0, 6, 0, 0])                           # GetNextVariableName from ""
    + bytes([5, 0, 7])                                 # QueryVariableInfo(NV|BS|RT)
    + bytes([6, 0, 9, 0, 6, 1])                        # define_read_only(Z, GLOBAL, BS|RT)
    + setvar(4, 2, 0, 3, nv_rt=False)                  # BS-only volatile
    + setvar(1, 0, 0, 0)                               # delete BootOrder
    + bytes([0x17, 0])                                 # ExitBootServices
    + setvar(0, 0, 0, 60) + setvar(4, 2, 0, 3, nv_rt=False)
    + bytes([4, 0, 6, 0, 255])
)
put("efi_varstore", "loader-then-os", bytes([0x12]) + LOADER)
put("efi_varstore", "bad-attributes",
    bytes([0x00]) + setvar(0, 0, 0, 8, raw_attrs=0x24) + setvar(0, 0, 0, 8, raw_attrs=0x10)
    + setvar(5, 1, 0, 8) + setvar(6, 1, 0, 8) + setvar(3, 1, 0, 255) + setvar(3, 1, 0, 255, append=True))


# fat_ops: ops_len, ops, then a `fat` seed.
FAT_OPS = bytes([
    0, 0, 0,        # Open "EFI" from the root
    0, 0, 1,        # Open \EFI\BOOT\BOOTX64.EFI
    0, 0, 2,        # Open \loader\entries
    1, 3, 0,        # read a directory entry
    1, 3, 0, 1, 3, 0,
    0, 3, 12,       # open the first listed name
    0x21, 4, 200,   # read 400 bytes from the newest handle
    2, 4,           # SetPosition 0
    0x42, 4,        # SetPosition end
    0x81, 4, 7,     # read at the end
    0xc2, 4, 3,     # SetPosition size - 3
    1, 4, 9,
    3, 4, 5, 4,     # GetInfo, whole read
    6, 0, 1, 0x86, 0, 0, 7, 0,
    4, 4, 4, 1,     # Close
])
for name in sorted(os.listdir(os.path.join(SEEDS, "fat"))):
    with open(os.path.join(SEEDS, "fat", name), "rb") as f:
        image = f.read()
    put("fat_ops", name, struct.pack("<H", len(FAT_OPS)) + FAT_OPS + image)
print("seeds written under", os.path.normpath(SEEDS))
