"""Every training setting with its default, in one place: the trainer reads it, and the job spec
(worker/spec.py) is built from its fields, so the API and the loop cannot disagree on a default."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from models.augment import POLICIES
from models.family import GANConfig


def _api(doc: str, **bounds) -> dict:
    """Field metadata for the job spec (core/spec.py builds TrainSpec from these fields): what a user
    reads, and the bounds the API checks. Fields without it are not part of the API."""
    return {"api": {"description": doc, **bounds}}


@dataclass(frozen=True)
class TrainConfig:
    """Every training setting with its default, once. None means: the family's default for the data kind
    (Family.train_defaults), filled in by `for_family`."""

    epochs: int | None = field(default=None, metadata=_api("Passes over the data set; default: the recipe's, "
                                                           "else 5", ge=1))
    max_steps: int | None = field(default=None, metadata=_api("Stop after this many G steps in total", ge=1))
    batch_size: int | None = field(default=None, metadata=_api("Images (or points) per batch; default: the "
                                                               "recipe's, else 16", ge=2, le=4096))
    loss: str | None = None  # the family's default; set through the job's model.loss
    lr_g: float | None = field(default=None, metadata=_api("default: the family's", gt=0, le=1))
    lr_d: float | None = field(default=None, metadata=_api("default: the family's", gt=0, le=1))
    beta1: float | None = field(default=None, metadata=_api("Adam beta1; default: the family's", ge=0, lt=1))
    beta2: float | None = field(default=None, metadata=_api("Adam beta2; default: the family's", ge=0, lt=1))
    # k in Goodfellow et al., n_critic in WGAN-GP.
    d_steps: int | None = field(default=None, metadata=_api("D steps per G step; default: the family's",
                                                            ge=1, le=100))
    optimizer: Literal["adam", "sgd"] = field(
        default="adam", metadata=_api("sgd: SGD with momentum (Goodfellow et al.)"))
    momentum: float = field(default=0.9, metadata=_api("sgd only", ge=0, lt=1))
    gp_weight: float = field(default=10.0, metadata=_api("lambda of the gradient penalty (wasserstein-gp)", ge=0))
    info_weight: float = field(default=1.0, metadata=_api("lambda of InfoGAN's mutual-information term", ge=0))
    info_cont_weight: float | None = field(default=None, metadata=_api(
        "InfoGAN: weight of the continuous codes' Gaussian NLL beside the categorical code's cross-entropy in the "
        "information term; default: the recipe's (1 on 28 px images, as the paper's code), else 0.1", ge=0))
    info_invariance: float | None = field(default=None, metadata=_api(
        "InfoGAN: weight of a second categorical term, read by Q from a randomly deformed copy of each generated "
        "image (a small rotation, scaling, shear and shift), so that the categorical code cannot stand for slant "
        "or width (images only: 2-D points have no such copy); default: the recipe's (1 on 28 px images), else 0",
        ge=0, le=100))
    info_real: float | None = field(default=None, metadata=_api(
        "InfoGAN: weight of a term that has Q sort the real images into the categorical code's values by itself "
        "(self-augmented training, as IMSAT): Q reads each real image and a randomly deformed copy of it alike, "
        "surely, and spreads a batch evenly over the values (images only); default: the recipe's (1 on 28 px "
        "images), else 0", ge=0, le=100))
    lr_decay: bool | None = field(default=None, metadata=_api("Decay learning rates linearly to 0 over the "
                                                              "schedule; default: the recipe's, else off"))
    recon_weight: float | None = field(default=None, metadata=_api(
        "Translators: lambda of the reconstruction term beside the adversarial one: pix2pix's L1 to the target "
        "(100), CycleGAN's cycle L1 (10), SRGAN's pixel MSE (1000, i.e. 1e-3 on the adversarial term); DAGAN: L1 "
        "of a variation to its input (0; the 28 px recipe's 10); default: the family's", ge=0, le=1e6))
    identity_weight: float | None = field(default=None, metadata=_api(
        "CycleGAN: weight of the identity L1 as a fraction of recon_weight (0.5); default: the family's", ge=0,
        le=100))
    partner_warp: float | None = field(default=None, metadata=_api(
        "DAGAN: the share of the critic's real pairs whose partner is a randomly deformed copy of the image (a "
        "small rotation, scaling, shear and shift) rather than another image of its class; default: the family's",
        ge=0, le=1))
    diversity_weight: float | None = field(default=None, metadata=_api(
        "DAGAN: weight of a diversity floor: G's step varies each input twice, with two noises, and pays for "
        "every bit by which the two lie less than 20.4 apart (mean L1, 0-255), so that a pull towards the input "
        "(recon_weight) cannot make it ignore the noise; 0: off; default: the recipe's, else 0", ge=0, le=1000))
    dihedral_pairs: float | None = field(default=None, metadata=_api(
        "DAGAN: the share of training pairs turned or mirrored (one of the 7 other symmetries of the square, the "
        "same for the image, its partner and its wrong partner), so that each turned class is one more class to "
        "learn from; default: the recipe's, else 0", ge=0, le=1))
    r1_gamma: float | None = field(default=None, metadata=_api(
        "StyleGAN2: gamma of the R1 penalty on real images (gamma / 2 x the squared gradient norm of D); default: "
        "the recipe's (1), else stylegan2-ada's heuristic 0.0002 x image_size^2 / batch_size", ge=0, le=1000))
    r1_every: int = field(default=16, metadata=_api(
        "StyleGAN2: lazy regularisation: the R1 step comes every this many D steps, weighted by it", ge=1, le=256))
    style_mixing: float | None = field(default=None, metadata=_api(
        "StyleGAN2: the share of generated images made from two latents, switching at a random layer; default: the "
        "recipe's (0 on images, as stylegan2-ada's small-image config), else the paper's 0.9", ge=0, le=1))
    pl_weight: float = field(default=0.0, metadata=_api(
        "StyleGAN2: weight of the path-length regulariser (the paper's 2), every 4 G steps; 0: off", ge=0,
        le=100))
    reuse_fakes: bool | None = field(default=None, metadata=_api(
        "G's step judges the fakes (and their labels and codes) of the step's last D update instead of drawing fresh "
        "noise and running G again, as the DCGAN reference code does: one G forward pass less per step; default: the "
        "recipe's (dcgan on 28 px), else off"))
    unroll_steps: int = field(default=0, metadata=_api("Unrolled GAN (Metz et al. 2016): G steps against D as it "
                                                       "will be after this many more updates; 0: off", ge=0,
                                                       le=20))
    phase_images: int | None = field(default=None, metadata=_api(
        "ProGAN: real images shown in each phase of the growing schedule (each fade-in of a new resolution, and each "
        "stable phase after it; the paper: 800,000); default: the job's images split evenly over its phases, so "
        "that it reaches the full resolution and ends with a stable phase there", ge=1))
    final_phase: float | None = field(default=None, metadata=_api(
        "ProGAN, when phase_images is unset: the share of the job's images shown in the last, full-resolution stable "
        "phase, the other phases splitting the rest evenly; default: the recipe's (0.5 at 32 px), else an even split "
        "over all phases, as the paper's schedule", gt=0, lt=1))
    drift_weight: float = field(default=0.001, metadata=_api(
        "ProGAN with WGAN-GP: epsilon of the drift term epsilon * E[D(x)^2] added to the critic's loss, which keeps "
        "its scores near 0 (the paper: 0.001)", ge=0))
    ema: float | None = field(default=None, metadata=_api("Keep an EMA of G with this decay and serve it; 0: "
                                                          "none (default: the recipe's, else none)", ge=0, lt=1))
    balance_classes: bool | None = field(default=None, metadata=_api(
        "Conditional models: draw the real images of each batch so that every class comes equally often (a rare "
        "class's images repeat within an epoch), matching the uniform labels G is asked for; default: on when the "
        "largest class has more than twice the images of the smallest"))
    augment: tuple[Literal[POLICIES], ...] | None = field(  # type: ignore[valid-type]
        default=None, metadata=_api("DiffAugment policies for small data sets; default: the recipe's (stylegan2 at "
                                    "32 px: translation and color), else none; [] turns a recipe's off"))
    ada_target: float | None = field(default=None, metadata=_api(
        "ADA (Karras et al. 2020): augment each image D sees with train.augment's policies with a probability p "
        "that adapts while training, rising while E[sign D(real)] is above this target (the paper: 0.6) and "
        "falling below it; needs train.augment; default off (the policies apply to every image)", gt=0, lt=1))
    amp: Literal["auto", "off", "bf16", "fp16"] = field(
        default="auto", metadata=_api("Mixed precision; auto: the fastest measured for this device class and net "
                                       "(models/speed_table.json; float32 where nothing was measured)"))
    channels_last: bool | None = field(default=None, metadata=_api(
        "NHWC layout for conv nets; default: the fastest measured, as amp: auto (off with compile)"))
    compile: bool = field(default=False, metadata=_api("torch.compile the nets (CUDA; slower start, faster steps)"))
    devices: int = field(default=1, metadata=_api(
        "Train one model on this many devices of one worker (data parallel over torch.distributed: NCCL on GPUs, "
        "gloo on CPU processes); each takes batch_size / devices of every batch, so the run's curve matches one "
        "device's at the same batch size", ge=1, le=16))
    seed: int = field(default=0, metadata=_api("Seeds initialisation, data order and noise", ge=0, lt=2**63))
    sample_every_epochs: int = field(default=1, metadata=_api("Save a sample grid every this many epochs", ge=1))
    eval_every_epochs: int = field(default=0, metadata=_api(
        "Score the model every this many epochs on 500 samples (labelled images: the reference classifier's "
        "Fréchet distance and class figures; 2-D mixtures: modes and high quality), on the training curve; 0: off",
        ge=0))
    keep_best: bool = field(default=False, metadata=_api(
        "Serve the generator of the best-scoring epoch rather than the last one (needs eval_every_epochs)"))
    checkpoint_every_steps: int = field(default=500, metadata=_api("Save a checkpoint every this many steps",
                                                                   ge=1))
    progress_every_steps: int = 10
    n_samples: int = 64

    def for_family(self, gan: GANConfig) -> TrainConfig:
        """Fills every None with the family's default for the data, else the general one."""
        defaults = {**GENERAL_DEFAULTS, **gan.family.train_defaults(gan.recipe_key)}
        return replace(self, **{name: value for name, value in defaults.items() if getattr(self, name) is None})


# What a setting is when neither the job nor the family's recipe says. Small data sets need many updates
# per epoch: with batch 16, one MNIST epoch is 312 steps.
GENERAL_DEFAULTS = {"epochs": 5, "batch_size": 16, "augment": (), "lr_decay": False, "reuse_fakes": False,
                    "info_cont_weight": 0.1, "info_invariance": 0.0, "info_real": 0.0, "style_mixing": 0.9,
                    "recon_weight": 0.0, "identity_weight": 0.0, "partner_warp": 0.0,
                    "diversity_weight": 0.0, "dihedral_pairs": 0.0}
