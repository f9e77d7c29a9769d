"""How an upload is turned into a data set (the caller's choices) and how much the server accepts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.settings import Settings


class UploadOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200, description="Display name; default: the file's")
    image_size: int | None = Field(None, ge=4, le=512, description="Side of the square images stored; default: "
                                   "the images' own size, which must then be square and the same for all")
    channels: Literal["gray", "rgb"] | None = Field(None, description="Default: gray if every image is gray")
    resize: Literal["crop", "pad"] = Field("crop", description="crop: center-crop to a square, then resize; "
                                           "pad: resize to fit, then pad to a square with `background`")
    background: Literal["black", "white"] = Field("black", description="Behind transparent pixels and padding")
    layout: Literal["classes", "domains", "side-by-side"] | None = Field(
        None, description="How a ZIP's folders are read. classes: a folder per class (or flat, unlabelled); "
                          "domains: two domains for a translator, folders A/ and B/ (or CycleGAN's trainA/ and "
                          "trainB/; testA/ and testB/ are skipped), paired when both hold the same file names; "
                          "side-by-side: pix2pix's layout, each image twice as wide as high with A on the left "
                          "and B on the right. Default: domains when the top folders are A and B or trainA and "
                          "trainB, else classes")

    @field_validator("name")
    @classmethod
    def _printable(cls, name: str | None) -> str | None:
        # A name is shown in listings, logs and terminals: control characters (escape sequences) would act there.
        if name is not None and any(ord(c) < 32 or 127 <= ord(c) < 160 for c in name):
            raise ValueError("name holds control characters; use printable text")
        return name


@dataclass(frozen=True)
class UploadLimits:
    max_uncompressed_bytes: int
    max_entry_bytes: int
    max_zip_entries: int
    max_image_pixels: int
    max_images: int
    max_dataset_bytes: int
    # What a refusal over max_images names: the setting that set it, and what to do instead (a data set upload's,
    # unless a route that decodes images per request says its own).
    images_setting: str = "max_dataset_images"
    split_advice: str = "split it into smaller data sets"

    @classmethod
    def from_settings(cls, settings: Settings) -> UploadLimits:
        return cls(settings.max_uncompressed_bytes, settings.max_entry_bytes, settings.max_zip_entries,
                   settings.max_image_pixels, settings.max_dataset_images, settings.max_dataset_bytes)
