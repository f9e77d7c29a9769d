#!/usr/bin/env bash
# The GPU figures of docs/benchmarks.md in one run on a CUDA machine: the CUDA tests, the trainer (float32, then
# bf16 + channels_last, then with torch.compile too) against a plain float32 loop of the same DCGAN at two batch
# sizes, and one data-parallel job joined over NCCL. PY names the Python that has torch with CUDA.
#
#     bash bench/gpu_evidence.sh 2>&1 | tee gpu-evidence.log
set -u
PY=${PY:-.venv/bin/python}
export PYTHONUNBUFFERED=1
nvidia-smi -L
$PY -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"
timeout 240 $PY -m pytest --noconftest -q -p no:cacheprovider tests/models/test_families.py -k cuda 2>&1 | tail -4
for batch in 64 512; do
  for options in "--amp off" "" "--compile"; do
    echo "== batch $batch, trainer options: ${options:-amp auto (bf16 + channels_last)}"
    timeout 150 $PY bench/train_throughput.py --device cuda --batch-size "$batch" --rounds 5 --steps 60 $options \
      2>&1 | tail -3
  done
done
echo "== a job's trainer joined over NCCL (one rank: the one GPU here), 50 steps"
timeout 120 $PY - <<'PY'
import socket, time, torch
from models.config import TrainConfig
from models.data import load_builtin
from models.distributed import join, leave
from models.gan import GANConfig
from models.trainers import make_trainer
data = load_builtin("mnist")
gan = GANConfig(arch="dcgan", data_shape=tuple(data.shape))
trainer = make_trainer(gan, TrainConfig(max_steps=50, batch_size=256), "cuda")
with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0)); port = probe.getsockname()[1]
trainer.distribute(join(0, 1, "127.0.0.1", port, torch.device("cuda"), 60))
started = time.perf_counter(); result = trainer.fit(data.data); torch.cuda.synchronize()
print(f"nccl rank 0 of 1: {result.steps} steps, loss_d {result.history[-1]['loss_d']:.3f}, "
      f"{50 * 256 / (time.perf_counter() - started):.0f} images/s, backend {torch.distributed.get_backend()}")
leave()
PY
