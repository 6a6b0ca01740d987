"""Product images: validation of uploads and WebP thumbnails made by a Celery task.

Uploads are checked before they are stored (`image_validate`); thumbnails are made after the
commit by `product_thumbnails_task`, which is safe to run twice: a thumbnail's file name carries
a hash of its source's name, so a thumbnail that already belongs to the current source is kept,
and one left over from a replaced source is made again.
"""

import hashlib
import io
import warnings
from pathlib import PurePosixPath
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models.fields.files import FieldFile
from PIL import Image, ImageOps, UnidentifiedImageError

from mall.errors import InvalidImage

from .cache import catalog_cache_bump
from .models import Product, ProductImage

ALLOWED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "GIF"})
MAIN_THUMB_WIDTH = 200
GALLERY_THUMB_WIDTHS = (200, 750)
THUMB_QUALITY = 82
FLATTEN_BACKGROUND = (255, 255, 255)  # thumbnails are shown on the mini-program's white pages


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


def image_field_validator(upload: Any) -> None:
    """`image_validate` for Django forms and model fields (admin uploads): a ValidationError."""
    if upload is None or getattr(upload, "_committed", False):
        return  # nothing new was uploaded (an existing file of a model being edited)
    try:
        image_validate(upload)
    except InvalidImage as exc:
        raise ValidationError(exc.message, code=exc.code) from exc


def _flatten(image: Image.Image) -> Image.Image:
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, FLATTEN_BACKGROUND)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    if image.mode != "RGB":
        return image.convert("RGB")
    return image


def thumbnail_name(source_name: str, width: int) -> str:
    """The thumbnail's file name: the source's stem, a hash of its full name, the width."""
    path = PurePosixPath(source_name)
    digest = hashlib.sha1(source_name.encode(), usedforsecurity=False).hexdigest()[:10]
    return f"{path.stem[:60]}-{digest}_{width}.webp"


def thumbnail_matches(thumb_name: str, source_name: str, width: int) -> bool:
    """True when thumb_name was made from source_name at this width (the storage may have
    appended a suffix to avoid a clash, so the prefix decides)."""
    if not thumb_name or not source_name:
        return False
    expected = thumbnail_name(source_name, width).removesuffix(".webp")
    return PurePosixPath(thumb_name).name.startswith(expected)


def thumbnail_make(source_field_file: FieldFile, width: int) -> ContentFile:
    """A WebP thumbnail `width` px wide (never upscaled), EXIF orientation applied, alpha
    flattened onto white. The ContentFile is named after the source (see thumbnail_name)."""
    source_field_file.open("rb")
    try:
        with Image.open(source_field_file) as image:
            if image.format == "JPEG":
                image.draft("RGB", (width, width))  # decode big JPEGs at a reduced scale
            image.load()
            oriented = ImageOps.exif_transpose(image) or image
            if oriented.width > width:
                height = max(1, round(oriented.height * width / oriented.width))
                oriented = oriented.resize((width, height), Image.Resampling.LANCZOS)
            flat = _flatten(oriented)
            buffer = io.BytesIO()
            flat.save(buffer, format="WEBP", quality=THUMB_QUALITY, method=4)
    finally:
        source_field_file.close()
    return ContentFile(buffer.getvalue(), name=thumbnail_name(source_field_file.name, width))


def _thumb_refresh(
    instance: Product | ProductImage, source_field: str, thumb_field: str, width: int
) -> bool:
    """Make one thumbnail unless the current one was made from the current source.

    The new name is written with a conditional UPDATE (only while the source is unchanged), so
    an upload that replaced the source in the meantime never gets a stale thumbnail.
    Returns whether the thumbnail changed.
    """
    source: FieldFile = getattr(instance, source_field)
    thumb: FieldFile = getattr(instance, thumb_field)
    model = type(instance)
    if not source.name:
        if not thumb.name:
            return False
        model.objects.filter(pk=instance.pk, **{source_field: ""}).update(**{thumb_field: ""})
        return True
    if thumbnail_matches(thumb.name, source.name, width) and thumb.storage.exists(thumb.name):
        return False
    content = thumbnail_make(source, width)
    old_name = thumb.name
    new_name = thumb.storage.save(thumb.field.generate_filename(instance, content.name), content)
    updated = model.objects.filter(pk=instance.pk, **{source_field: source.name}).update(
        **{thumb_field: new_name}
    )
    if not updated:  # the source was replaced meanwhile: its own task makes its thumbnails
        thumb.storage.delete(new_name)
        return False
    if old_name and old_name != new_name and thumb.storage.exists(old_name):
        thumb.storage.delete(old_name)
    setattr(instance, thumb_field, new_name)
    return True


def product_thumbnails_make(*, product_id: int) -> int:
    """Make the missing thumbnails of a product's main image and gallery; returns how many
    were made. Safe to run twice (the second run makes none)."""
    product = Product.objects.filter(pk=product_id).first()
    if product is None:
        return 0  # deleted before the task ran
    made = int(_thumb_refresh(product, "main_image", "main_image_thumb", MAIN_THUMB_WIDTH))
    for gallery_image in ProductImage.objects.filter(product_id=product_id):
        made += _thumb_refresh(gallery_image, "image", "thumb_200", GALLERY_THUMB_WIDTHS[0])
        made += _thumb_refresh(gallery_image, "image", "thumb_750", GALLERY_THUMB_WIDTHS[1])
    if made:
        catalog_cache_bump()  # cached lists show thumbnail URLs
    return made


def product_images_uploaded(*, product_id: int) -> None:
    """Queue the thumbnails of a product after the surrounding transaction commits."""
    from .tasks import product_thumbnails_task

    transaction.on_commit(lambda: product_thumbnails_task.delay(product_id))
