"""Product image uploads: checked before they are stored (`image_validate`); once stored, their
thumbnails are queued (`product_images_uploaded`) for catalog.tasks, which makes them with
catalog.thumbnails. Dependencies run one way: images → tasks → thumbnails.
"""

import io
import warnings
from typing import IO, Any

from django.conf import settings
from django.db import transaction
from PIL import Image, UnidentifiedImageError

from mall.errors import InvalidImage

from .tasks import product_thumbnails_task

ALLOWED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "GIF"})


def _upload_size(upload: IO[bytes] | Any) -> int:
    size = getattr(upload, "size", None)
    if size is not None:
        return int(size)
    position = upload.tell()
    upload.seek(0, io.SEEK_END)
    size = upload.tell()
    upload.seek(position)
    return size


def image_validate(upload: IO[bytes] | Any) -> None:
    """Check that an upload is a JPEG/PNG/WebP/GIF image of sane size, before it is stored.

    Only the header is decoded (plus Pillow's integrity check), so a decompression bomb is
    refused before its pixels are allocated.
    Raises: InvalidImage with detail.reason in too_large, not_image, unsupported_format,
    too_many_pixels, corrupt.
    """
    max_bytes: int = settings.CATALOG_IMAGE_MAX_BYTES
    max_pixels: int = settings.CATALOG_IMAGE_MAX_PIXELS
    size = _upload_size(upload)
    if size > max_bytes:
        raise InvalidImage(
            f"图片过大：{size / 1024 / 1024:.1f}MB，最大 {max_bytes // 1024 // 1024}MB",
            reason="too_large",
            size=size,
            max_bytes=max_bytes,
        )
    upload.seek(0)
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb limit (Image.MAX_IMAGE_PIXELS) warns below 2× and raises above.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(upload) as image:
                image_format = image.format or ""
                width, height = image.size
                if image_format not in ALLOWED_FORMATS:
                    raise InvalidImage(
                        f"不支持的图片格式 {image_format}：请上传 JPEG、PNG、WebP 或 GIF 图片",
                        reason="unsupported_format",
                        format=image_format,
                    )
                if width * height > max_pixels:
                    raise InvalidImage(
                        f"图片尺寸过大：{width}×{height} 像素，最多 {max_pixels // 1_000_000} 百万像素",
                        reason="too_many_pixels",
                        width=width,
                        height=height,
                        max_pixels=max_pixels,
                    )
                image.verify()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidImage(
            f"图片尺寸过大，最多 {max_pixels // 1_000_000} 百万像素",
            reason="too_many_pixels",
            max_pixels=max_pixels,
        ) from exc
    except UnidentifiedImageError as exc:
        raise InvalidImage(
            "文件不是图片：请上传 JPEG、PNG、WebP 或 GIF 图片", reason="not_image"
        ) from exc
    except (OSError, SyntaxError, ValueError) as exc:  # what Pillow raises for truncated data
        raise InvalidImage("图片已损坏，无法读取", reason="corrupt") from exc
    finally:
        upload.seek(0)


def product_images_uploaded(*, product_id: int) -> None:
    """Queue the thumbnails of a product after the surrounding transaction commits."""
    transaction.on_commit(lambda: product_thumbnails_task.delay(product_id))
