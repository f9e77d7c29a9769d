"""`serve_precision: auto` serves an image sampler in the setting its serving row measured fastest, only if the
model's own probe images stay close to float32's; float32 everywhere else, and always under `float32`."""

import copy

import pytest
import torch
from torch import nn

from core.artifacts import publish_generator
from core.kinds import card_for
from models.gan import GANConfig, build_generator
from models.sampling import generate, latents_for_seed
from service.serving import precision
from service.serving.generators import GeneratorCache, module_bytes
from service.serving.prepacked import PrepackedConvTranspose2d, prepack

CPU = torch.device("cpu")
DCGAN_64 = GANConfig(arch="dcgan", data_shape=(3, 64, 64), g_width=8, latent_dim=16)
CGAN_64 = GANConfig(arch="cgan", data_shape=(3, 64, 64), num_classes=3, g_width=8, latent_dim=16)
DCGAN_28 = GANConfig(arch="dcgan", data_shape=(1, 28, 28), g_width=8, latent_dim=16)
POINTS = GANConfig(arch="mlp", data_shape=(2,), latent_dim=2, hidden=16)


@pytest.fixture(autouse=True)
def amx(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)


def model(gan: GANConfig):
    torch.manual_seed(0)
    return build_generator(gan).eval(), card_for(gan, [str(i) for i in range(gan.num_classes)], note="test")


def test_a_64px_conv_sampler_serves_in_the_measured_setting_with_its_images_close_to_float32():
    net, card = model(DCGAN_64)
    latents = latents_for_seed(4, 16, 1)
    exact = generate(net, latents)
    chosen = precision.choose(net, card, CPU, "auto")
    assert chosen.amp == torch.bfloat16 and chosen.channels_last
    assert "at 64 px" in chosen.reason and "probe images move" in chosen.reason
    assert net.backbone.net[0].weight.is_contiguous(memory_format=torch.channels_last)
    with chosen.autocast(CPU):
        served = generate(net, latents)
    assert not torch.equal(served, exact)  # bf16 arithmetic, not float32 under another name
    assert (served.int() - exact.int()).abs().float().mean() <= precision.MAX_MEAN_LEVELS


def test_a_conditional_sampler_is_probed_with_its_labels():
    net, card = model(CGAN_64)
    chosen = precision.choose(net, card, CPU, "auto")
    assert chosen.amp == torch.bfloat16 and "probe images move" in chosen.reason


def test_a_model_whose_images_move_too_far_serves_in_float32(monkeypatch):
    monkeypatch.setattr(precision, "MAX_MEAN_LEVELS", 0.0)
    net, card = model(DCGAN_64)
    chosen = precision.choose(net, card, CPU, "auto")
    assert chosen.amp is None and not chosen.channels_last and "moved this model's probe images" in chosen.reason
    assert net.backbone.net[0].weight.is_contiguous()


@pytest.mark.parametrize(("gan", "setting", "why"), [
    (DCGAN_64, "float32", "serve_precision: float32"),
    (DCGAN_28, "auto", "float32: no setting measured 20% faster"),
    (POINTS, "auto", "float32: only image samplers"),
])
def test_float32_where_asked_measured_or_not_measurable(gan, setting, why):
    net, card = model(gan)
    chosen = precision.choose(net, card, CPU, setting)
    assert chosen.amp is None and not chosen.channels_last and chosen.reason.startswith(why)


def test_where_bf16_is_emulated_nothing_is_measured_for_serving(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    net, card = model(DCGAN_64)
    assert precision.choose(net, card, CPU, "auto").reason.startswith("float32: nothing measured")


def test_avx512_bf16_without_amx_serves_from_its_own_row(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    net, card = model(DCGAN_64)
    chosen = precision.choose(net, card, CPU, "auto")
    assert chosen.amp == torch.bfloat16 and "AMD EPYC" in chosen.reason


def test_the_cache_serves_a_loaded_model_in_its_chosen_precision(tmp_path):
    from core.store import LocalStore

    store = LocalStore(tmp_path)
    net, card = model(DCGAN_64)
    publish_generator(store, net, card.to_json())
    exact = generate(net, latents_for_seed(2, 16, 3))
    loaded = GeneratorCache(store, 1, 2**30, precision="auto").get(card.id)
    assert loaded.precision.amp == torch.bfloat16
    served = loaded.images(latents_for_seed(2, 16, 3))
    assert not torch.equal(served, exact) and (served.int() - exact.int()).abs().max() <= precision.MAX_LEVELS
    assert torch.equal(GeneratorCache(store, 1, 2**30).get(card.id).images(latents_for_seed(2, 16, 3)), exact)


def test_in_bf16_a_batched_image_is_the_one_served_alone():
    net, card = model(DCGAN_64)
    chosen = precision.choose(net, card, CPU, "auto")
    latents = latents_for_seed(8, 16, 4)
    with chosen.autocast(CPU):
        together = generate(net, latents)
        alone = torch.cat([generate(net, latents[i:i + 1]) for i in range(8)])
    assert chosen.amp == torch.bfloat16
    assert (together.int() - alone.int()).abs().max() <= 1  # the promise of docs/generation.md, as in float32


def test_in_bf16_the_cache_serves_a_copy_with_its_weights_cast_once_and_prepacked_and_the_same_bytes(tmp_path):
    from core.store import LocalStore

    store = LocalStore(tmp_path)
    net, card = model(DCGAN_64)
    publish_generator(store, net, card.to_json())
    loaded = GeneratorCache(store, 1, 2**30, precision="auto").get(card.id)
    assert loaded.precision.cast_once and "cast once" in loaded.precision.reason
    assert loaded.precision.prepacked and "prepacked" in loaded.precision.reason
    assert loaded.served is not loaded.net
    layers = list(loaded.served.backbone.net)
    assert not any(type(layer) is nn.ConvTranspose2d for layer in layers)
    packed = [layer for layer in layers if isinstance(layer, PrepackedConvTranspose2d)]
    assert len(packed) == 5 and {layer.packed_weight.dtype for layer in packed} == {torch.bfloat16}
    assert loaded.nbytes > 1.5 * module_bytes(loaded.net)  # the copy's weights count against the cache's limit
    assert {p.dtype for p in loaded.net.parameters()} == {torch.float32}  # exports and float32 paths keep it
    latents = latents_for_seed(5, 16, 6)
    with loaded.precision.autocast(CPU):
        per_forward_cast = generate(loaded.net, latents)
    assert torch.equal(loaded.images(latents), per_forward_cast)


def test_a_net_that_reads_its_weights_outside_autocast_keeps_the_per_forward_cast():
    net, card = model(DCGAN_64)
    first = net.backbone.net[0]
    first.register_forward_hook(lambda module, inputs, out: out + (module.weight.dtype == torch.bfloat16))
    chosen = precision.choose(net, card, CPU, "auto")
    assert chosen.amp == torch.bfloat16 and not chosen.cast_once and "cast once" not in chosen.reason
    assert chosen.served_net(net) is net


def test_a_transposed_convolution_that_the_prepacked_op_would_draw_differently_is_not_prepacked(monkeypatch):
    net, card = model(DCGAN_64)
    drawn_by_onednn = PrepackedConvTranspose2d.forward
    monkeypatch.setattr(PrepackedConvTranspose2d, "forward", lambda self, x: drawn_by_onednn(self, x) * 1.01)
    chosen = precision.choose(net, card, CPU, "auto")
    assert chosen.cast_once and not chosen.prepacked and "prepacked" not in chosen.reason
    assert not any(isinstance(layer, PrepackedConvTranspose2d) for layer in chosen.served_net(net).modules())


def test_prepacking_replaces_plain_unhooked_transposed_convolutions_only_and_draws_what_they_draw():
    plain = nn.ConvTranspose2d(4, 4, 3, stride=2, padding=1, output_padding=1)
    subclass = type("Custom", (nn.ConvTranspose2d,), {})(4, 4, 3)
    hooked = nn.ConvTranspose2d(4, 4, 3)
    hooked.register_forward_hook(lambda module, inputs, out: out * 2)
    net = prepack(nn.Sequential(nn.Sequential(copy.deepcopy(plain)), subclass, nn.Conv2d(4, 4, 1), hooked))
    assert isinstance(net[0][0], PrepackedConvTranspose2d) and net[1] is subclass and type(net[2]) is nn.Conv2d
    assert net[3] is hooked
    x = torch.randn(2, 4, 5, 5)
    with torch.inference_mode():  # in float32 oneDNN's kernel sums in another order: close, not always equal
        torch.testing.assert_close(net[0][0](x), plain(x), rtol=1e-5, atol=1e-6)
