#!/usr/bin/env python3
"""Writes the seeds of the arm64 kernel targets: `arm64_image` (CTR_EL0,
base, range, then an Image), `gzip` (capacity, then a gzip file) and
`zboot` (a zboot image). The kernels are synthetic: a 64-byte arm64 header
(Documentation/arch/arm64/booting.rst) and code-like filler. Run from
fuzz/: tools/make_arm64_seeds.py. Formats: each target's docs.
"""
import gzip
import io
import os
import random
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
SEEDS = os.path.join(HERE, "..", "seeds")
MIB = 1 << 20


def put(target, name, data):
    os.makedirs(os.path.join(SEEDS, target), exist_ok=True)
    with open(os.path.join(SEEDS, target, name), "wb") as f:
        f.write(data)


def image(text_offset, image_size, flags, body):
    """An arm64 Image: header ("MZ" code0 as with an EFI stub) + body."""
    hdr = struct.pack("<IIQQQQQQII", 0x91005A4D, 0x14000000, text_offset, image_size,
                      flags, 0, 0, 0, 0x644D5241, 0x40)
    rnd = random.Random(body ^ flags)
    words = [0xD503201F, 0xA9BF7BFD, 0x910003FD, 0xD65F03C0, 0, 0xF9400000]
    code = b"".join(struct.pack("<I", rnd.choice(words) | rnd.randrange(32))
                    for _ in range(body // 4))
    return hdr + code


def arm64_input(ctr, base, length, img):
    return struct.pack("<QQQ", ctr, base, length) + img


CTR_QEMU_MAX = 0x8444C004
MODERN = 0b1010  # 4 KiB pages, placement anywhere
modern = image(0, 0x260_0000, MODERN, 4096)
legacy = image(0x80000, 0, 0, 4096)
put("arm64_image", "modern-4k", arm64_input(CTR_QEMU_MAX, 0x4020_0000, 0x10_0000, modern))
put("arm64_image", "legacy-pre-3.17", arm64_input(CTR_QEMU_MAX, 0x4800_0000, 0x1234, legacy))
put("arm64_image", "16k-low-top-range",
    arm64_input(0x3 << 16, 0xFFFF_FFFF_FFFF_FF00, 0x100, image(0x8_0000, 0x100_0000, 0b0100, 256)))


def gz(data, name=None, mtime=0):
    """A gzip file, with FNAME when a name is given."""
    if name is None:
        return gzip.compress(data, compresslevel=9, mtime=mtime)
    buf = io.BytesIO()
    with gzip.GzipFile(filename=name, mode="wb", fileobj=buf, mtime=mtime) as f:
        f.write(data)
    return buf.getvalue()


def cap(n):
    return struct.pack("<H", min((n + 15) // 16, 0xFFFF))


put("gzip", "image-exact", cap(len(modern)) + gz(modern))
put("gzip", "image-named-roomy", cap(64 * 1024) + gz(modern, name="Image"))
put("gzip", "text-short-buffer", cap(32) + gz(b"hello, vmfw\n" * 50))


def zboot(comp, payload, suffix=None):
    hdr = bytearray(0x200)
    hdr[0:2] = b"MZ"
    hdr[4:8] = b"zimg"
    struct.pack_into("<II", hdr, 8, 0x200, len(payload))
    hdr[0x18:0x18 + len(comp)] = comp
    struct.pack_into("<II", hdr, 0x38, 0x818223CD, 0x80)
    hdr[0x80:0x84] = b"PE\0\0"
    tail = b"" if suffix is None else struct.pack("<I", suffix)
    return bytes(hdr) + payload + tail + b"\xcc" * 256


put("zboot", "gzip", zboot(b"gzip", gz(modern)))
put("zboot", "zstd22", zboot(b"zstd22", b"\x28\xb5\x2f\xfd" + bytes(60), suffix=len(modern)))
