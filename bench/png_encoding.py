"""PNG encoding: models.png (Sub filter, zlib outside the GIL) against Pillow's encoder, on built-in data.

For each data set: CPU ms per image and mean bytes of each encoder over --images images, and the wall time of the
same work split over two threads against one (how much of it leaves the interpreter lock free for other threads).

    .venv/bin/python -m bench.png_encoding
"""

from __future__ import annotations

import argparse
import io
import threading
import time

import torch

from models.data import load_builtin
from models.png import png_bytes
from models.sampling import to_pil


def pillow_png(image: torch.Tensor) -> bytes:
    buffer = io.BytesIO()
    to_pil(image).save(buffer, format="PNG")
    return buffer.getvalue()


def wall_s(encode, images: torch.Tensor, threads: int) -> float:
    shares = [images[i::threads] for i in range(threads)]
    workers = [threading.Thread(target=lambda share=share: [encode(image) for image in share]) for share in shares]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["mnist", "shapes"])
    parser.add_argument("--images", type=int, default=500)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("data set, encoder: CPU ms per image, mean bytes, wall time on 2 threads / on 1")
    for name in args.datasets:
        images = load_builtin(name).data[: args.images].contiguous()
        for label, encode in (("Pillow", pillow_png), ("models.png", png_bytes)):
            started = time.process_time()
            sizes = [len(encode(image)) for image in images]
            cpu_ms = 1000 * (time.process_time() - started) / len(images)
            split = wall_s(encode, images, 2) / wall_s(encode, images, 1)
            print(f"{name} {tuple(images.shape[1:])}, {label}: {cpu_ms:.3f} ms, {sum(sizes) / len(sizes):,.0f} bytes, "
                  f"{split:.2f}")


if __name__ == "__main__":
    main()
