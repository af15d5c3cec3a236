"""Vendor the few onnxruntime-web files the live canvas needs into demos/static/ort/ (no node, no CDN).

    python scripts/vendor_onnxruntime_web.py            # the pinned version, from the npm registry
    python scripts/vendor_onnxruntime_web.py --tarball onnxruntime-web-1.30.0.tgz   # offline

Downloads the pinned npm tarball, checks it against the registry's sha512 integrity string written
below, and extracts only the WebAssembly build: the ES module bundle (`ort.wasm.bundle.min.mjs`, the
JS API with the Emscripten loader inside), the loader as a separate module (the bundle may still ask
for it by name) and the SIMD WebAssembly binary, stored gzip-compressed (`.wasm.gz`, served with
`Content-Encoding: gzip` by demos/browser_models.py: 14.2 MB on disk becomes 3.7 MB). The WebGPU/JSEP
build is left out: its binary is twice the size (28 MB), a headless or GPU-less browser cannot use it,
and a 128-pixel sketch model runs fast enough on the CPU build.
"""
from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import io
import json
import tarfile
import urllib.request
from pathlib import Path

VERSION = "1.30.0"
INTEGRITY = "sha512-q0y+JrrtukXSzsBWEMccVfqX25LRmosXHF+CaRJmg8pZClzcV7svNc4rKY3jL02Vb7QmRMDs1SigqR4CXAfKYQ=="
TARBALL_URL = f"https://registry.npmjs.org/onnxruntime-web/-/onnxruntime-web-{VERSION}.tgz"
FILES = ("ort.wasm.bundle.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
COMPRESSED = (".wasm",)   # stored as NAME.gz
DEST = Path(__file__).resolve().parents[1] / "demos" / "static" / "ort"


def check_integrity(data: bytes) -> None:
    """Raise ValueError unless `data` matches the pinned npm integrity string."""
    algorithm, _, expected = INTEGRITY.partition("-")
    actual = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if actual != expected:
        raise ValueError(f"onnxruntime-web {VERSION} tarball does not match its pinned {algorithm} integrity")


def vendor(tarball: bytes, dest: Path = DEST) -> dict[str, int]:
    """Extract FILES from the npm tarball into `dest` (old files there removed); their sizes on disk."""
    check_integrity(tarball)
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.iterdir():
        if old.is_file():
            old.unlink()
    sizes = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        for name in FILES:
            data = archive.extractfile(f"package/dist/{name}").read()
            if name.endswith(COMPRESSED):
                data, name = gzip.compress(data, compresslevel=9, mtime=0), name + ".gz"
            (dest / name).write_bytes(data)
            sizes[name] = len(data)
    (dest / "VERSION.json").write_text(json.dumps(
        {"package": "onnxruntime-web", "version": VERSION, "license": "MIT", "source": TARBALL_URL,
         "integrity": INTEGRITY, "files": sizes}, indent=2) + "\n")
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tarball", type=Path, help="a local copy of the pinned npm tarball (default: download)")
    args = parser.parse_args()
    if args.tarball:
        data = args.tarball.read_bytes()
    else:
        with urllib.request.urlopen(TARBALL_URL, timeout=120) as response:
            data = response.read()
    sizes = vendor(data)
    for name, size in sizes.items():
        print(f"{size:>10,} B  {DEST / name}")
    print(f"{sum(sizes.values()):>10,} B  in all (onnxruntime-web {VERSION})")


if __name__ == "__main__":
    main()
