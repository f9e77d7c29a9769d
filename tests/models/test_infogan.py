"""InfoGAN's settings by name (the 28 px default, the paper's) and its information term, on tiny nets."""

import copy

import torch
import torch.nn.functional as F

from core.spec import JobSpec, gan_config, train_config
from models.data import load_builtin
from models.families.infogan import INFOGAN_DIGITS, PAPER_MNIST
from models.family import GANConfig
from models.inputs import draw_inputs
from models.trainer import TrainConfig, make_trainer

MNIST_CLASSES = [str(i) for i in range(10)]


def resolved(model: dict | None = None, train: dict | None = None) -> tuple[GANConfig, TrainConfig]:
    """The nets and training settings an infogan job on 28 px digits gets."""
    spec = JobSpec(dataset="mnist", model={"arch": "infogan", **(model or {})}, train=train or {})
    gan = gan_config(spec, (1, 28, 28), MNIST_CLASSES)
    return gan, train_config(spec).for_family(gan)


def test_an_infogan_job_on_28px_digits_gets_the_infogan_recipe():
    gan, config = resolved()
    chosen = {**{name: getattr(gan, name) for name in ("latent_dim", "g_width", "d_width")},
              **{name: getattr(config, name) for name in ("batch_size", "lr_g", "lr_d", "ema", "epochs",
                                                          "info_invariance", "info_real")}}
    assert chosen == {name: INFOGAN_DIGITS[name] for name in chosen}
    assert (gan.cat_codes, gan.cont_codes, config.loss) == (10, 2, "non-saturating")


def test_the_paper_recipe_gives_the_papers_nets_and_optimiser():
    gan, config = resolved({"recipe": "paper"})
    trainer = make_trainer(gan, TrainConfig(max_steps=1, batch_size=4))
    assert trainer.generator.stem is not None and trainer.discriminator.stem is not None
    assert (config.lr_g, config.lr_d, config.ema) == (1e-3, 2e-4, None)


def test_the_papers_full_mnist_settings_are_one_spec_away():
    model = {k: v for k, v in PAPER_MNIST.items() if k in ("latent_dim", "g_width", "d_width")}
    train = {k: v for k, v in PAPER_MNIST.items() if k not in model}
    gan, config = resolved(model, train)
    assert (gan.latent_dim, gan.g_width, config.lr_g, config.lr_d, config.batch_size, config.ema, config.epochs) == \
        (62, 64, 1e-3, 2e-4, 64, 0, 64)


def test_a_jobs_own_settings_beat_the_recipe():
    gan, config = resolved({"latent_dim": 100}, {"lr_g": 5e-4, "ema": 0.99})
    assert (gan.latent_dim, config.lr_g, config.ema) == (100, 5e-4, 0.99)


def categorical_loss(trainer, n: int = 256) -> float:
    """Q's cross-entropy on the categorical code of fresh samples, on copies (BatchNorm's statistics stay put)."""
    generator, discriminator = copy.deepcopy(trainer.generator), copy.deepcopy(trainer.discriminator)
    inputs = draw_inputs(trainer.gan, n, torch.Generator().manual_seed(5))
    with torch.no_grad():
        out = discriminator(generator(inputs.z, **inputs.as_kwargs()))
    return F.cross_entropy(out.q_categorical, inputs.categorical).item()


def test_the_information_term_teaches_q_to_read_the_categorical_code():
    gan = GANConfig(arch="infogan", latent_dim=8, data_shape=(1, 28, 28), g_width=4, d_width=4, cat_codes=4,
                    cont_codes=1)
    trainer = make_trainer(gan, TrainConfig(max_steps=20, batch_size=16, seed=0, lr_g=2e-3, lr_d=2e-4, amp="off"))
    before = categorical_loss(trainer)
    trainer.fit(load_builtin("digits").images[:320])
    after = categorical_loss(trainer)
    assert before > 1.2  # about log(4): Q guesses
    assert after < 0.5 * before


def test_the_paper_nets_on_28px_digits_share_an_fc_layer_between_d_and_q():
    gan, _ = resolved()
    trainer = make_trainer(gan, TrainConfig(max_steps=1, batch_size=4))
    generator, discriminator = trainer.generator, trainer.discriminator
    assert generator.stem[0].out_features == discriminator.stem[0].out_features == 1024
    assert discriminator.q[0].in_features == 1024 and isinstance(discriminator.q[1], torch.nn.BatchNorm1d)
    assert trainer.config.info_cont_weight == 1.0 and gan.fc_stem == 1024
    points = make_trainer(GANConfig(arch="infogan", latent_dim=2, data_shape=(2,), cat_codes=3, cont_codes=1),
                          TrainConfig(max_steps=1))
    assert points.discriminator.stem is None and points.config.info_cont_weight == 0.1


def test_a_card_made_before_the_paper_nets_still_rebuilds_its_generator():
    gan, _ = resolved()
    old_card_config = {k: v for k, v in gan.to_dict().items() if k not in ("fc_stem", "recipe")}
    old = GANConfig.from_dict({**old_card_config, "latent_dim": 100})
    assert old.fc_stem == 0 and make_trainer(old, TrainConfig(max_steps=1)).generator.stem is None


def test_the_invariance_term_asks_q_for_the_code_of_a_deformed_copy():
    """With `info_invariance`, G's step adds Q's cross-entropy on a deformed copy of each fake: from the same state,
    the information term it reports grows by that weight times the copy's cross-entropy, and the nets move
    differently."""
    gan = GANConfig(arch="infogan", latent_dim=8, data_shape=(1, 28, 28), g_width=4, d_width=4, cat_codes=4,
                    cont_codes=1)

    def step(weight: float) -> tuple[float, list[torch.Tensor]]:
        """The information term G's first step reports, and G's weights after it (the same seed: the same initial
        nets and the same first noise)."""
        trainer = make_trainer(gan, TrainConfig(max_steps=1, batch_size=16, seed=0, amp="off",
                                                info_invariance=weight))
        _, information = trainer._generator_step(16)
        return information.item(), [p.detach().clone() for p in trainer.generator.parameters()]

    (plain, plain_g), (invariant, invariant_g) = step(0.0), step(2.0)
    assert invariant > plain + 2.0  # a 4-way cross-entropy on an untrained Q is about log(4) = 1.39
    assert any(not torch.equal(a, b) for a, b in zip(plain_g, invariant_g, strict=True))


def _bars(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """n 28 px images in the model's range, each a vertical (kind 0) or a horizontal (kind 1) bar 2-5 pixels thick
    across the middle, and their kinds. (Bars spread over the image would offer a second split, by place, that
    survives the deformation's small shifts nearly as well as their direction does.)"""
    kinds = torch.arange(n) % 2
    images = torch.full((n, 1, 28, 28), -1.0)
    thickness = torch.randint(2, 6, (n,), generator=generator)
    for i, (kind, thick) in enumerate(zip(kinds.tolist(), thickness.tolist(), strict=True)):
        first = 14 - thick // 2
        if kind:
            images[i, 0, first:first + thick, 4:24] = 1
        else:
            images[i, 0, 4:24, first:first + thick] = 1
    return images, kinds


def test_the_real_term_has_q_sort_real_images_into_values_by_itself():
    """`info_real` is a clustering term on real images with no labels (IMSAT's self-augmented training): trained on
    it alone, Q reads vertical bars as one value and horizontal ones as the other. Before, its readings do not
    follow the kind."""
    gan = GANConfig(arch="infogan", latent_dim=8, data_shape=(1, 28, 28), g_width=4, d_width=4, cat_codes=2,
                    cont_codes=1)
    trainer = make_trainer(gan, TrainConfig(max_steps=1, batch_size=32, seed=0, amp="off", info_real=1.0))
    images, kinds = _bars(64, torch.Generator().manual_seed(1))

    def agreement() -> float:
        """The share of images whose value is their kind's, under the better of the two ways to pair them."""
        with torch.no_grad():
            values = trainer.discriminator(images).q_categorical.argmax(1)
        same = (values == kinds).float().mean().item()
        return max(same, 1 - same)

    before = agreement()
    for _ in range(60):
        loss = trainer._real_clustering(images)
        trainer.opt_q.zero_grad(set_to_none=True)
        loss.backward()
        trainer.opt_q.step()
    assert before < 0.9 and agreement() == 1.0


def test_a_training_step_with_the_real_term_moves_q_differently():
    """The real batch of D's step reaches the term in G's step: from the same seed, one step with `info_real` leaves
    Q's weights elsewhere than one without."""
    gan = GANConfig(arch="infogan", latent_dim=8, data_shape=(1, 28, 28), g_width=4, d_width=4, cat_codes=4,
                    cont_codes=1)
    images = (_bars(32, torch.Generator().manual_seed(2))[0] * 127.5 + 127.5).to(torch.uint8)

    def q_after_one_step(weight: float) -> list[torch.Tensor]:
        trainer = make_trainer(gan, TrainConfig(max_steps=1, batch_size=16, seed=0, amp="off", info_real=weight))
        trainer.fit(images)
        return [p.detach().clone() for p in trainer.discriminator.q_parameters()]

    plain, clustering = q_after_one_step(0.0), q_after_one_step(1.0)
    assert any(not torch.equal(a, b) for a, b in zip(plain, clustering, strict=True))
