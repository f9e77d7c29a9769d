"""Every family trains, saves, reloads and generates from its own inputs; two of them really learn."""

import pytest
import torch

from models.checkpoint import load_generator, save_generator
from models.data import load_builtin, resize
from models.gan import FAMILIES, GANConfig
from models.sampling import generate, latents_for_seed
from models.toy2d import ring8
from models.trainer import TrainConfig, Trainer, make_trainer
from tests.helpers import straight_and_resumed
from tests.models.test_nets import config_for, inputs_for


@pytest.fixture(scope="module")
def digits():
    data = load_builtin("digits")
    return data.images[:256], data.labels[:256]


@pytest.fixture(scope="module")
def ring():
    data = load_builtin("ring8")
    return data.points, data.labels


@pytest.mark.parametrize("arch", [name for name, family in FAMILIES.items() if family.kind == "sampler"])
def test_each_family_trains_saves_reloads_and_generates_from_its_inputs(arch, digits, tmp_path):
    images, labels = digits
    size = 28 if 28 in FAMILIES[arch].image_sizes else 32  # the style-based and progressive nets take powers of two
    images = resize(images, size)
    config = config_for(arch, (1, size, size))
    trainer = make_trainer(config, TrainConfig(max_steps=3, batch_size=32, ema=0.9 if arch == "sngan" else None))
    before = [p.detach().clone() for p in trainer.generator.parameters()]
    result = trainer.fit(images, labels if config.conditions_generator else None)
    assert result.steps == 3
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.generator.parameters(), strict=True))

    save_generator(trainer.serving_generator().eval(), {"config": config.to_dict()}, tmp_path)
    reloaded, _ = load_generator(tmp_path)
    kwargs = inputs_for(config, 4)
    latents = latents_for_seed(4, config.latent_dim, seed=1)
    out = generate(reloaded, latents, **kwargs)
    assert out.shape == (4, 1, size, size) and out.dtype == torch.uint8
    assert torch.equal(out, generate(trainer.serving_generator().eval(), latents, **kwargs))


@pytest.mark.parametrize("arch", [name for name, family in FAMILIES.items() if "points" in family.data_kinds])
def test_every_family_that_takes_points_trains_on_them(arch, ring):
    points, labels = ring
    config = config_for(arch, (2,))
    trainer = Trainer(config, TrainConfig(max_steps=3, batch_size=64))
    trainer.fit(points, labels if config.conditions_generator else None)
    out = generate(trainer.generator.eval(), latents_for_seed(5, 20, 0), **inputs_for(config, 5))
    assert out.shape == (5, 2) and out.dtype == torch.float32


def test_infogan_codes_change_the_image():
    config = config_for("infogan", (1, 28, 28))
    trainer = Trainer(config, TrainConfig(max_steps=1))
    z = latents_for_seed(1, 20, 0).repeat(2, 1)
    out = generate(trainer.generator.eval(), z, categorical=torch.tensor([0, 5]), continuous=torch.zeros(2, 2))
    assert not torch.equal(out[0], out[1])


def test_mlp_gan_finds_the_modes_of_the_ring(ring):
    """Goodfellow's MLP GAN on 8 Gaussians of std 0.01 (PacGAN protocol, 2,500 samples): at least 6 modes
    and at least half the samples within 3 std of a mode. A collapsed or untrained G scores ~1 and ~0 %."""
    points, _ = ring
    mixture = ring8()
    config = GANConfig(arch="mlp", latent_dim=2, data_shape=(2,), hidden=256, depth=3)
    trainer = Trainer(config, TrainConfig(epochs=1000, max_steps=2000, batch_size=128, lr_decay=True))
    untrained = mixture.evaluate(generate(trainer.generator.eval(), latents_for_seed(2500, 2, seed=123)))
    trainer.generator.train()

    trainer.fit(points)

    score = mixture.evaluate(generate(trainer.generator.eval(), latents_for_seed(2500, 2, seed=123)))
    assert untrained["high_quality"] < 0.05
    assert score["modes"] >= 6, score
    assert score["high_quality"] >= 0.5, score


def test_cgan_draws_each_label_from_its_own_mode(ring):
    points, labels = ring
    mixture = ring8()
    config = GANConfig(arch="cgan", latent_dim=2, data_shape=(2,), hidden=128, depth=3, num_classes=8)
    trainer = Trainer(config, TrainConfig(epochs=100, max_steps=300, batch_size=128, lr_g=1e-3, lr_d=1e-3))
    trainer.fit(points, labels)
    generator = trainer.generator.eval()
    for label in range(8):
        samples = generate(generator, latents_for_seed(200, 2, seed=label), labels=torch.full((200,), label))
        nearest = torch.cdist(samples, mixture.means).argmin(dim=1)
        assert (nearest == label).float().mean() > 0.5, label  # chance is 1/8


@pytest.mark.parametrize("arch,options", [
    ("wgan-gp", {"d_steps": 2, "ema": 0.9}),
    ("infogan", {"augment": ("color", "translation", "cutout"), "lr_decay": True}),
    ("acgan", {"optimizer": "sgd", "loss": "least-squares"}),
])
def test_resuming_any_family_continues_bit_identically(arch, options, digits, tmp_path):
    images, labels = digits
    config = config_for(arch, (1, 28, 28))
    labels = labels if config.conditions_generator else None
    train = TrainConfig(epochs=2, batch_size=32, seed=3, **options)
    straight, resumed = straight_and_resumed(config, train, images, labels, 3, tmp_path / "checkpoint.safetensors")

    assert resumed.step == straight.step
    for net in ("generator", "discriminator", "serving_generator"):
        expected = getattr(straight, net)() if net == "serving_generator" else getattr(straight, net)
        actual = getattr(resumed, net)() if net == "serving_generator" else getattr(resumed, net)
        for key, value in expected.state_dict().items():
            assert torch.equal(value, actual.state_dict()[key]), (net, key)


@pytest.mark.parametrize("loss", ["minimax", "non-saturating", "least-squares", "hinge"])
def test_every_loss_trains(loss, ring):
    points, _ = ring
    trainer = Trainer(config_for("mlp", (2,)), TrainConfig(max_steps=5, batch_size=64, loss=loss))
    result = trainer.fit(points)
    assert all(torch.isfinite(torch.tensor([h["loss_d"], h["loss_g"]])).all() for h in result.history)


def test_bf16_autocast_path_trains_on_cpu(digits):
    """The mixed-precision code path, exercised on the CPU (CUDA runs the same path with bf16 or fp16)."""
    images, _ = digits
    trainer = Trainer(config_for("dcgan", (1, 28, 28)), TrainConfig(max_steps=3, batch_size=32, amp="bf16"))
    result = trainer.fit(images)
    assert result.steps == 3 and trainer.amp == torch.bfloat16


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_cuda_mixed_precision_and_compile(amp, digits):
    images, _ = digits
    trainer = Trainer(config_for("dcgan", (1, 28, 28)),
                      TrainConfig(max_steps=4, batch_size=32, amp=amp, compile=True), device="cuda")
    assert trainer.memory_format is None  # compiled conv backward failed in channels_last (torch 2.11, H200)
    result = trainer.fit(images)
    assert result.steps == 4 and all(map(lambda h: h["loss_d"] == h["loss_d"], result.history))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_trains_conv_nets_in_channels_last_with_the_data_on_the_gpu(digits):
    images, labels = digits
    trainer = Trainer(config_for("cgan", (1, 28, 28)), TrainConfig(max_steps=4, batch_size=32, channels_last=True),
                      device="cuda")
    assert trainer.memory_format == torch.channels_last
    result = trainer.fit(images, labels)
    assert result.steps == 4 and all(map(lambda h: h["loss_d"] == h["loss_d"], result.history))


def test_ema_is_the_running_average_of_the_generator(ring):
    points, _ = ring
    trainer = Trainer(config_for("mlp", (2,)), TrainConfig(max_steps=1, batch_size=64, ema=0.75))
    before = [p.detach().clone() for p in trainer.generator.parameters()]
    trainer.fit(points)
    for start, now, ema in zip(before, trainer.generator.parameters(), trainer.ema.parameters(), strict=True):
        assert torch.allclose(ema, 0.75 * start + 0.25 * now)
    assert trainer.serving_generator() is trainer.ema
