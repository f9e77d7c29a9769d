#!/usr/bin/env bash
# The GPU figures of docs/benchmarks.md on a CUDA machine, in three parts that each fit one 10-minute device call:
#   tests  the CUDA tests: families in bf16/fp16/compile, no sync inside a step (sync debug mode), no recompiles
#   train  the trainer against a plain float32 loop of the same nets: DCGAN at 28 px (MNIST) and 64 px (`shapes`,
#          widths 64), batch 64 and 512, the trainer in float32 (`amp: off`) and with the CUDA defaults
#          (`amp: auto`), and against a plain loop that also draws fresh noise for G's step (`--plain fresh`: the
#          trainer's bookkeeping alone); the tiny net (widths 8), where bookkeeping dominates
#   more   torch.compile (float32) at 64 px; stylegan2 at 64 px; generate on the GPU vs the raw generator; one
#          trainer joined over NCCL
#   record the trainer alone in float32 / bf16, each contiguous and channels_last, for DCGAN at 28 and 64 px and
#          stylegan2 at 64 px: the rows of models/speed_table.json that `amp: auto` reads on CUDA (copy the file
#          back from the machine and commit it), and the serving rows (bench/serve_precision.py) that the API's
#          `serve_precision: auto` reads
# PY names the Python that has torch with CUDA.
#
#     bash bench/gpu_evidence.sh tests 2>&1 | tee gpu-evidence-tests.log    # each part in its own call
#     bash bench/gpu_evidence.sh train 2>&1 | tee gpu-evidence-train.log
#     bash bench/gpu_evidence.sh more 2>&1 | tee gpu-evidence-more.log
#     bash bench/gpu_evidence.sh record 2>&1 | tee gpu-evidence-record.log
set -u
PY=${PY:-.venv/bin/python}
PARTS=${*:-tests train more record}
export PYTHONUNBUFFERED=1
nvidia-smi -L
$PY -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"

throughput() {  # one row: the last three lines of bench/train_throughput.py with these options
  echo "== $*"
  timeout 150 $PY bench/train_throughput.py --device cuda --rounds 5 --steps 60 "$@" 2>&1 | tail -3
}

if [[ " $PARTS " == *" tests "* ]]; then
  timeout 240 $PY -m pytest --noconftest -q -p no:cacheprovider tests/models/test_families.py -k cuda \
    tests/models/test_trainer_syncs.py tests/models/test_trainer_compile.py 2>&1 | tail -6
fi

if [[ " $PARTS " == *" train "* ]]; then
  for size in 28 64; do
    for batch in 64 512; do
      throughput --size "$size" --batch-size "$batch" --amp off
      throughput --size "$size" --batch-size "$batch"
      throughput --size "$size" --batch-size "$batch" --amp off --plain fresh  # the bookkeeping alone
    done
  done
  throughput --net tiny --amp off
fi

if [[ " $PARTS " == *" more "* ]]; then
  for batch in 64 512; do
    throughput --size 64 --batch-size "$batch" --amp off --compile --rounds 3  # each round compiles anew
  done
  throughput --arch stylegan2 --batch-size 64 --amp off
  throughput --arch stylegan2 --batch-size 64
  echo "== generate on the GPU: the API vs the raw generator (needs the service's packages and Redis)"
  timeout 120 $PY -m bench.serve_throughput --device cuda --clients 1,8 --seconds 4 --rounds 2 2>&1 | tail -8
  echo "== a job's trainer joined over NCCL (one rank: the one GPU here), 50 steps"
  timeout 120 $PY - <<'PY'
import socket, time, torch
from models.config import TrainConfig
from models.data import load_builtin
from models.distributed import join, leave
from models.gan import GANConfig
from models.trainer import make_trainer
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
fi

if [[ " $PARTS " == *" record "* ]]; then
  for size in 28 64; do
    timeout 150 $PY bench/train_throughput.py --device cuda --record --size "$size" --rounds 3 --steps 60 | tail -1
  done
  timeout 150 $PY bench/train_throughput.py --device cuda --record --arch stylegan2 --rounds 3 --steps 20 | tail -1
  timeout 120 $PY -m bench.serve_precision --device cuda --sizes 28,64 --batch 64 --record 2>&1 | tail -14
fi
