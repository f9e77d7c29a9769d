"""StyleGAN2: the networks keep the paper's properties, the trainer resumes bit for bit and learns, and the exported
generator serves what the trainer made."""

import pytest
import torch
from pydantic import ValidationError

from core.spec import JobSpec, gan_config, train_config
from models.checkpoint import load_generator, save_generator
from models.config import TrainConfig
from models.data import load_builtin, resize, to_model_range
from models.gan import FAMILIES, GANConfig, build_discriminator, build_generator
from models.nets.stylegan2 import ModulatedConv, style_layers
from models.stylegan2 import StyleGAN2Trainer
from models.trainer import make_trainer
from tests.helpers import straight_and_resumed

TINY = {"latent_dim": 16, "g_width": 4, "d_width": 4, "mapping_layers": 2, "mbstd": 4}


def tiny(size: int = 16, channels: int = 1, **extra) -> GANConfig:
    return GANConfig(arch="stylegan2", data_shape=(channels, size, size), **{**TINY, **extra})


@pytest.fixture(scope="module")
def digits16():
    data = load_builtin("digits")
    return resize(data.images[:256], 16), data.labels[:256]


@pytest.mark.parametrize("size", [4, 8, 16, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes_and_one_w_per_modulated_layer(size, channels):
    config = tiny(size, channels)
    generator, discriminator = build_generator(config), build_discriminator(config)
    images = generator(torch.randn(4, 16))
    assert images.shape == (4, channels, size, size)
    assert discriminator(images).logit.shape == (4,)
    layers = style_layers(config)
    assert generator.num_ws == len(layers) == len(generator.layers) + 1 == 2 * size.bit_length() - 4
    assert layers[0] == 4 and layers[-1] == size and layers == sorted(layers)
    assert FAMILIES["stylegan2"].style_layers(config) == layers
    assert generator.mapping(torch.randn(4, 16)).shape == (4, generator.w_dim)


def test_unsupported_size_is_refused_with_the_sizes_taken():
    with pytest.raises(ValueError, match=r"4, 8, 16, 32, 64, 128, 256 px; got 28x28"):
        build_generator(tiny(28))


def test_demodulation_gives_unit_variance_outputs_whatever_the_style():
    torch.manual_seed(0)
    conv = ModulatedConv(16, 32, w_dim=8, kernel=3)
    x = torch.randn(6, 16, 40, 40)
    for scale in (0.1, 1.0, 10.0):  # w's scale moves the styles far from their initial 1
        with torch.no_grad():
            out = conv(x, torch.randn(6, 8) * scale)[:, :, 1:-1, 1:-1]  # the border sees zero padding
        std = out.std(dim=(2, 3))  # per sample and output channel
        assert std.min() > 0.85 and std.max() < 1.15, (scale, std.min(), std.max())
        assert abs(std.mean().item() - 1) < 0.05


def test_plain_d_blocks_drop_the_skip_and_unknown_ones_are_refused():
    resnet, plain = (build_discriminator(tiny(16, 3, d_architecture=a)) for a in ("resnet", "orig"))
    names = {net: {name for name, _ in net.named_parameters()} for net in (resnet, plain)}
    skips = {name for name in names[resnet] if ".skip." in name}
    assert skips and names[resnet] - names[plain] == skips and not names[plain] - names[resnet]
    plain.load_state_dict({k: v for k, v in resnet.state_dict().items() if k not in skips})
    x = torch.randn(4, 3, 16, 16)
    assert not torch.allclose(plain(x).logit, resnet(x).logit)  # the same convs without the skip path
    with pytest.raises(ValueError, match="one of resnet, orig; got 'skip'"):
        build_discriminator(tiny(16, d_architecture="skip"))


def test_the_cpu_recipe_takes_the_small_image_config_and_the_paper_keeps_config_f():
    dataset = load_builtin("shapes", 32)
    for model, architecture, mixing in (({}, "orig", 0.0), ({"recipe": "paper"}, "resnet", 0.9),
                                        ({"d_architecture": "resnet"}, "resnet", 0.0)):
        spec = JobSpec(dataset="shapes", model={"arch": "stylegan2", "image_size": 32, **model})
        gan = gan_config(spec, tuple(dataset.shape), dataset.classes)
        assert gan.d_architecture == architecture
        assert train_config(spec).for_family(gan).style_mixing == mixing
        has_skips = any(".skip." in name for name, _ in build_discriminator(gan).named_parameters())
        assert has_skips == (architecture == "resnet")


@pytest.mark.parametrize("size,model,rate", [(32, {}, 4e-3), (32, {"recipe": "paper"}, 2.5e-3), (16, {}, 2.5e-3),
                                             (64, {}, 2.5e-3)])
def test_adams_rate_is_the_32_px_recipes_own(size, model, rate):
    dataset = load_builtin("shapes", size)
    spec = JobSpec(dataset="shapes", model={"arch": "stylegan2", "image_size": size, **model})
    gan = gan_config(spec, tuple(dataset.shape), dataset.classes)
    trainer = make_trainer(gan, train_config(spec))
    c = 16 / 17  # lazy R1's correction (the test below)
    assert [group["lr"] for opt in (trainer.opt_g, trainer.opt_d) for group in opt.param_groups] == \
        pytest.approx([rate, rate * c])
    if not model:  # the rest of the CPU recipe holds at 32 px too
        assert (trainer.config.batch_size, trainer.config.style_mixing, gan.d_architecture) == (8, 0.0, "orig")


@pytest.mark.parametrize("size,model,train,epochs,augment", [
    (32, {}, {}, 30, ("translation", "color")), (32, {}, {"augment": []}, 30, ()),
    (32, {}, {"augment": ["cutout"]}, 30, ("cutout",)), (32, {"recipe": "paper"}, {}, 5, ()), (16, {}, {}, 6, ())])
def test_the_32_px_recipe_trains_15_minutes_with_diffaugment_unless_the_job_says_otherwise(size, model, train, epochs,
                                                                                         augment):
    dataset = load_builtin("shapes", size)
    spec = JobSpec(dataset="shapes", model={"arch": "stylegan2", "image_size": size, **model}, train=train)
    config = make_trainer(gan_config(spec, tuple(dataset.shape), dataset.classes), train_config(spec)).config
    assert (config.epochs, config.augment) == (epochs, augment)


def test_g_top_scale_widens_the_top_levels_only_and_is_the_32_px_recipes_own():
    def widths(gan: GANConfig) -> list[int]:
        return [layer.conv.weight.shape[0] for layer in build_generator(gan).layers]

    assert widths(tiny(32)) == [32, 16, 16, 8, 8, 4, 4]
    assert widths(tiny(32, g_top_scale=2)) == [32, 16, 16, 8, 8, 8, 8]
    assert widths(tiny(32, g_top_scale=4)) == [32, 16, 16, 16, 16, 16, 16]
    with pytest.raises(ValueError, match="g_top_scale must be at least 1; got 0"):
        build_generator(tiny(32, g_top_scale=0))
    recipes = {}
    for size, model, scale in ((32, {}, 2), (32, {"recipe": "paper"}, 1), (16, {}, 1), (64, {}, 1)):
        dataset = load_builtin("shapes", size)
        spec = JobSpec(dataset="shapes", model={"arch": "stylegan2", "image_size": size, **model})
        recipes[size, bool(model)] = gan = gan_config(spec, tuple(dataset.shape), dataset.classes)
        assert gan.g_top_scale == scale
    # A 32 px card made before the option rebuilds its generator as it was trained: the plain doubling.
    old_card = {k: v for k, v in recipes[32, False].to_dict().items() if k != "g_top_scale"}
    assert GANConfig.from_dict(old_card).g_top_scale == 1


def test_truncation_moves_the_layers_below_cutoff_to_w_avg_and_keeps_the_rest():
    generator = build_generator(tiny(16)).eval()
    generator.w_avg.copy_(torch.randn(generator.w_dim))
    w = generator.mapping(torch.randn(3, 16))
    cutoff = torch.tensor([2, 4, generator.num_ws])
    ws = generator.truncate(w, psi=torch.zeros(3), cutoff=cutoff)
    for i in range(3):
        for layer in range(generator.num_ws):
            expected = generator.w_avg if layer < cutoff[i] else w[i]
            assert torch.equal(ws[i, layer], expected), (i, layer)
    assert torch.equal(generator.truncate(w, psi=torch.ones(3)), w[:, None].expand(-1, generator.num_ws, -1))
    assert torch.equal(generator.truncate(w), w[:, None].expand(-1, generator.num_ws, -1))


def test_eval_mode_is_deterministic_and_training_mode_draws_noise():
    generator = build_generator(tiny(16))
    for layer in generator.layers:  # noise strengths start at 0; training makes them non-zero
        layer.noise_strength.data.fill_(0.5)
    z = torch.randn(4, 16)
    generator.eval()
    first = generator(z)
    assert torch.equal(first, generator(z))
    assert torch.allclose(first[:1], generator(z[:1]), atol=1e-5)  # nor does an image depend on its batch
    assert first.min() >= -1 and first.max() <= 1
    generator.train()
    assert not torch.equal(generator(z), generator(z))


def test_swapping_the_fine_ws_changes_the_image_and_not_the_coarse_features():
    generator = build_generator(tiny(16)).eval()
    coarse = 4  # ws 0-3 drive the 4x4 and 8x8 features
    features = []
    hooks = [layer.register_forward_hook(lambda _m, _i, out: features.append(out)) for layer in generator.layers[:3]]
    ws_a = generator.truncate(generator.mapping(torch.randn(1, 16)))
    ws_b = generator.truncate(generator.mapping(torch.randn(1, 16)))
    mixed = torch.cat([ws_a[:, :coarse], ws_b[:, coarse:]], dim=1)
    plain, swapped = generator.synthesis(ws_a), generator.synthesis(mixed)
    for hook in hooks:
        hook.remove()
    assert not torch.equal(plain, swapped)
    for before, after in zip(features[:3], features[3:], strict=True):  # layers 0-2 read only ws 0-2
        assert torch.equal(before, after)
    z = torch.randn(2, 16)
    broadcast = generator.mapping(z)[:, None].expand(-1, generator.num_ws, -1)
    assert torch.equal(generator.synthesis(broadcast), generator(z))


def test_conditional_generator_and_discriminator_use_the_labels():
    config = tiny(16, num_classes=10)
    generator, discriminator = build_generator(config).eval(), build_discriminator(config)
    z = torch.randn(1, 16).repeat(2, 1)
    images = generator(z, labels=torch.tensor([0, 1]))
    assert not torch.equal(images[0], images[1])
    same = images[:1].repeat(2, 1, 1, 1)
    scores = discriminator(same, torch.tensor([0, 1])).logit
    assert scores[0] != scores[1]
    with pytest.raises(ValueError, match="conditional: pass labels"):
        generator(z)


def test_lazy_regularisation_corrects_adams_rate_and_betas():
    trainer = make_trainer(tiny(16), TrainConfig(batch_size=32, pl_weight=2.0))
    assert isinstance(trainer, StyleGAN2Trainer)
    assert trainer.config.r1_gamma == FAMILIES["stylegan2"].train_defaults("images@16")["r1_gamma"]
    for optimizer, every in ((trainer.opt_d, 16), (trainer.opt_g, 4)):
        c = every / (every + 1)
        group = optimizer.param_groups[0]
        assert group["lr"] == pytest.approx(2.5e-3 * c)
        assert group["betas"] == pytest.approx((0.0, 0.99**c))


@pytest.mark.parametrize("options,conditional", [
    ({"augment": ("color", "translation", "cutout")}, False),
    ({"pl_weight": 2.0, "d_steps": 2}, True),
])
def test_resume_is_bit_identical_across_lazy_regularisation_steps(options, conditional, digits16, tmp_path):
    images, labels = digits16
    config = tiny(16, num_classes=10 if conditional else 0)
    # R1 every 4 D steps and path length every 4 G steps: interrupted at step 5, both fall due after the resume.
    train = TrainConfig(max_steps=10, batch_size=16, seed=2, r1_every=4, r1_gamma=1.0, style_mixing=0.9, ema=0.9,
                        **options)
    straight, resumed = straight_and_resumed(config, train, images[:96], labels[:96] if conditional else None, 5,
                                             tmp_path / "checkpoint.safetensors")
    expected, actual = _tensors(straight.state_dict()), _tensors(resumed.state_dict())
    assert expected.keys() == actual.keys()
    assert any(key.startswith("nets.ema.") for key in expected) and "regularisers.pl_mean" in expected
    for key, value in expected.items():
        assert torch.equal(value, actual[key]), key
    if options.get("pl_weight"):
        assert straight.pl_mean > 0


def test_training_brings_samples_closer_to_the_digits(digits16):
    images, _ = digits16
    real = to_model_range(images).flatten(1)
    trainer = make_trainer(tiny(16, g_width=8, d_width=8),
                           TrainConfig(max_steps=150, batch_size=16, lr_g=2e-3, lr_d=2e-3, ema=0.95, seed=0))
    before = trainer.samples()
    result = trainer.fit(images)
    after = trainer.samples()
    assert not torch.equal(before, after)
    losses = torch.tensor([row["loss_d"] for row in result.history])
    assert losses.std() > 0 and torch.isfinite(losses).all()
    assert trainer.generator.w_avg.abs().sum() > 0

    def distance_to_data(samples):  # mean distance from a sample to its nearest training digit
        return torch.cdist(to_model_range(samples).flatten(1), real).min(dim=1).values.mean()

    untrained, trained = distance_to_data(before), distance_to_data(after)
    assert trained < 0.75 * untrained, (untrained, trained)


def test_exported_generator_gives_the_serving_generators_pixels(digits16, tmp_path):
    images, labels = digits16
    config = tiny(16, num_classes=10)
    trainer = make_trainer(config, TrainConfig(max_steps=4, batch_size=16, ema=0.9))
    trainer.fit(images[:64], labels[:64])
    served = trainer.serving_generator().eval()
    save_generator(served, {"config": config.to_dict()}, tmp_path)
    reloaded, _ = load_generator(tmp_path)
    assert torch.equal(reloaded.w_avg, trainer.generator.w_avg) and reloaded.w_avg.abs().sum() > 0
    z, classes = torch.randn(5, 16), torch.arange(5)
    psi, cutoff = torch.full((5,), 0.5), torch.full((5,), 4)
    with torch.no_grad():
        assert torch.equal(reloaded(z, labels=classes), served(z, labels=classes))
        assert torch.equal(reloaded(z, labels=classes, psi=psi, cutoff=cutoff),
                           served(z, labels=classes, psi=psi, cutoff=cutoff))


def _tensors(state: dict, prefix: str = "") -> dict[str, torch.Tensor]:
    """Every tensor of a trainer's state by dotted path (the configs are JSON and left out)."""
    found = {}
    for key, value in state.items():
        path = f"{prefix}{key}"
        if torch.is_tensor(value):
            found[path] = value
        elif isinstance(value, dict) and key != "config":
            found |= _tensors(value, f"{path}.")
        elif isinstance(value, list):
            found |= _tensors(dict(enumerate(value)), f"{path}.")
    return found


def test_ada_on_a_32_px_job_is_refused_for_the_loop_not_for_the_augment_its_recipe_gives():
    with pytest.raises(ValidationError, match="stylegan2 trains with its own loop"):
        JobSpec(dataset="shapes", model={"arch": "stylegan2", "image_size": 32}, train={"ada_target": 0.6})
