"""What each figure in a card's `metrics.scores` means: what it measures, which way is better, and what real data
(or the trivial baseline it must beat) scores. One table, read by the dashboard (GET /ui/scores.json), so that no
page words a score on its own.

`baselines` name other values on the same card's `metrics` (dotted paths: "scores.l1_input",
"reference.accuracy") that hold the figure it is read against, for the page to show beside it. The "real MNIST"
numbers are the ceiling row of docs/models.md ("Default scores per family"): 1,000 real training digits scored as
if they were samples.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Score:
    measures: str
    better: str | None  # "higher" or "lower"; None for a baseline, or a figure read only against its baselines
    real: str  # what real data, or the baseline it must beat, scores
    baselines: tuple[str, ...] = ()


_READER = "the data set's reference classifier"
# Feature-space figures are named with their features (worker/evaluation.py's `scores`): figures in different
# spaces do not compare, so each space is its own row here.
_FEATURE_SPACES = {"classifier": "the reference classifier's features", "inception": "InceptionV3's features"}


def _feature_scores(space: str, words: str) -> dict[str, Score]:
    mnist = space == "classifier"
    fid = " (not FID: it compares only with models read by the same classifier)" if mnist else " (FID)"

    def real(general: str, value: str) -> str:
        return f"{general}; real MNIST digits: {value}" if mnist else general

    return {
        f"fid_{space}": Score(f"Fréchet distance between Gaussians fitted to the samples' and the held-out real "
                              f"images' features, in {words}{fid}", "lower",
                              real("0 for the same distribution; a finite real sample scores a little above", "2.22")),
        f"kid_{space}": Score(f"kernel (MMD) distance between the samples' and the real images' features, in {words}; "
                              "unbiased, so fair at small sample counts", "lower",
                              "about 0 for the same distribution (it can dip below 0)"),
        f"precision_{space}": Score(f"fidelity: the share of samples inside the real images' k-nearest-neighbour "
                                    f"manifold, in {words}", "higher", real("at most 1", "0.958")),
        f"recall_{space}": Score(f"diversity: the share of real images inside the samples' manifold, in {words}",
                                 "higher", real("at most 1", "0.955")),
        f"density_{space}": Score(f"how many real neighbourhoods each sample falls in, on average (Naeem et al. "
                                  f"2020), in {words}", "higher", real("about 1 (it can exceed 1)", "1.01")),
        f"coverage_{space}": Score(f"the share of real images with a sample among their nearest neighbours, in "
                                   f"{words}", "higher", real("at most 1", "0.967")),
    }


def _direction_scores(direction: str) -> dict[str, Score]:
    return {
        f"changed_l1_{direction}": Score(f"how far the {direction} output lies from its input (mean absolute pixel "
                                         "difference, 0-255): 0 is a translator that changes nothing", None,
                                         "no right value: read it beside the round trip's error"),
        f"cycle_l1_{direction}": Score(f"the round trip's error: {direction} then back, against the input (mean "
                                       "absolute pixel difference, 0-255)", "lower",
                                       "0 is an exact round trip; under the error of moving the input by one pixel "
                                       "(16.7 and 18.8 on digits-stripes) it is all but exact"),
    }


SCORES: dict[str, Score] = {
    # Samplers of labelled images, read by the data set's reference classifier.
    "confidence": Score(f"the mean top-class probability {_READER} gives the samples: do they look like some class",
                        "higher", "real MNIST digits: 0.967"),
    "class_coverage": Score(f"how many classes get at least half a fair share of the samples, as {_READER} reads "
                            "them: mode collapse shows here", "higher", "every class (10 for MNIST) on a balanced "
                                                                      "data set"),
    "class_entropy": Score("the entropy of the samples' class shares over log(classes): how evenly the classes come",
                           "higher", "1 for a balanced data set, 0 when every sample reads as one class"),
    "conditional_accuracy": Score(f"the share of samples that {_READER} reads as the class asked for", "higher",
                                  "the reference classifier's accuracy on held-out real images (shown beside)",
                                  ("reference.accuracy",)),
    "cas": Score("classification accuracy score: a classifier trained on samples only, tested on held-out real "
                 "images", "higher", "the same classifier trained on real images (cas_real_accuracy)",
                 ("scores.cas_real_accuracy",)),
    "cas_real_accuracy": Score("baseline for cas: the reference classifier's accuracy on the same held-out real "
                               "images", None, "this is the real-data figure"),
    **_feature_scores("classifier", _FEATURE_SPACES["classifier"]),
    **_feature_scores("inception", _FEATURE_SPACES["inception"]),
    # Samplers of 2-D points (PacGAN's protocol on the ring8 and grid25 mixtures).
    "modes": Score("mixture modes with at least one high-quality sample (within 3 std of the mode)", "higher",
                   "every mode: 8 on ring8, 25 on grid25"),
    "modes_held": Score("modes with at least a tenth of a fair share of the high-quality samples: captures that "
                        "another draw keeps", "higher", "every mode: 8 on ring8, 25 on grid25"),
    "high_quality": Score("the share of samples within 3 std of their nearest mode", "higher",
                          "about 0.99 (a 2-D Gaussian's mass within 3 std)"),
    # Paired translators (pix2pix, SRGAN): outputs against the true targets.
    "l1": Score("mean absolute pixel error of the outputs to the true targets (0-255)", "lower",
                "0 is the target itself; it must beat the input as it is and the mean target image",
                ("scores.l1_input", "scores.l1_mean_image")),
    "psnr": Score("peak signal-to-noise ratio of the outputs to the true targets (dB)", "higher",
                  "infinite for the target itself; it must beat the input as it is", ("scores.psnr_input",)),
    "l1_input": Score("baseline for l1: the input taken as the output (bicubic-scaled when sizes differ)", None,
                      "this is the do-nothing translator"),
    "psnr_input": Score("baseline for psnr: the input taken as the output", None, "this is the do-nothing translator"),
    "l1_mean_image": Score("baseline for l1: the mean target image given for every input", None,
                           "this is the translator that ignores its input"),
    # Unpaired translators (CycleGAN): how much each direction changes, and how well it comes back.
    **_direction_scores("a2b"),
    **_direction_scores("b2a"),
    # Augmenters (DAGAN): variations of an image, read beside what real images of a class look like.
    "to_input_l1": Score("how far a variation lies from its input (mean absolute pixel difference, 0-255)", None,
                         "above one_pixel_shift_l1 (more than a copy) and about same_class_real_l1 (as far as another "
                         "real image of the class)", ("scores.one_pixel_shift_l1", "scores.same_class_real_l1")),
    "between_variations_l1": Score("how far two variations of one input lie from each other: their variety",
                                   "higher", "well above one_pixel_shift_l1, toward same_class_real_l1",
                                   ("scores.one_pixel_shift_l1", "scores.same_class_real_l1")),
    "one_pixel_shift_l1": Score("baseline: an input against itself moved by one pixel, a change too small to call a "
                                "new image", None, "this is the real-data figure"),
    "same_class_real_l1": Score("baseline: two different real images of one class, how far real members of a class "
                                "lie apart", None, "this is the real-data figure"),
    "class_kept": Score(f"the share of variations that {_READER} reads as their input's class", "higher",
                        "the classifier's accuracy on the inputs themselves (class_read_on_inputs)",
                        ("scores.class_read_on_inputs",)),
    "class_read_on_inputs": Score(f"baseline for class_kept: {_READER}'s accuracy on the real inputs", None,
                                  "this is the real-data figure"),
}


def score_guide() -> dict[str, dict]:
    """The table as JSON: {score name: {measures, better, real, baselines}}."""
    return {name: {**asdict(score), "baselines": list(score.baselines)} for name, score in SCORES.items()}
