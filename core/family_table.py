"""The families table of docs/models.md, made from the Family rows and their kinds (a test keeps the doc in step):
`python -m core.family_table` prints it."""

from __future__ import annotations

from core.kinds import kind_of
from models.gan import FAMILIES, Family


def _optimiser(family: Family) -> str:
    rates = f"{family.lr_g:g}" if family.lr_g == family.lr_d else f"G {family.lr_g:g}, D {family.lr_d:g}"
    return f"Adam {rates}, β {family.betas}"




def _takes(family: Family) -> str:
    kinds = []
    if "images" in family.data_kinds:
        kinds.append(" / ".join(f"{size}²" for size in family.image_sizes) + " images")
    if "points" in family.data_kinds:
        kinds.append("2-D points")
    kinds += ["image pairs" if kind == "paired" else "two unpaired image sets"
              for kind in family.data_kinds if kind in ("paired", "unpaired")]
    return ", ".join(kinds)


def families_table(families: dict[str, Family] | None = None) -> str:
    rows = ["| arch | paper | networks | trains on | default loss | default optimiser | D steps | generation inputs |",
            "|---|---|---|---|---|---|---|---|"]
    for name, family in (families or FAMILIES).items():
        rows.append(f"| `{name}` | {family.reference} | {family.networks} | {_takes(family)} | {family.loss} | "
                    f"{_optimiser(family)} | {family.d_steps} | {kind_of(family.kind).describe_inputs(family)} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(families_table(), end="")
