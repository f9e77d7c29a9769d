"""The GANForge client: `Client` (blocking) and `AsyncClient` (asyncio) over the HTTP API, and, with the
`torch` extra, `SyntheticDataset`, a torch data set streamed from a model's augment.

It installs without the server (httpx, numpy and pillow only) and imports nothing of it.
"""

from typing import TYPE_CHECKING, Any

from ganforge_client.client import DEFAULT_URL, AsyncClient, Augmented, Client, GANForgeError, Generated, JobFailed
from ganforge_client.states import STATUSES, TERMINAL

if TYPE_CHECKING:
    from ganforge_client.dataset import SyntheticDataset

__all__ = ["DEFAULT_URL", "STATUSES", "TERMINAL", "AsyncClient", "Augmented", "Client", "GANForgeError",
           "Generated", "JobFailed", "SyntheticDataset"]


def __getattr__(name: str) -> Any:
    # SyntheticDataset imports torch: loaded when first asked for, so `import ganforge_client` stays torch-free.
    if name == "SyntheticDataset":
        from ganforge_client.dataset import SyntheticDataset

        return SyntheticDataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
