"""WebP thumbnails of product images, made by catalog.tasks.product_thumbnails_task after the
commit that stored a new image. Safe to run twice: a thumbnail's file name carries a hash of its
source's name, so a thumbnail that already belongs to the current source is kept, and one left
over from a replaced source is made again.
"""

import hashlib
import io
from pathlib import PurePosixPath

from django.core.files.base import ContentFile
from django.db.models.fields.files import FieldFile
from PIL import Image, ImageOps

from .cache import catalog_cache_bump
from .models import Product, ProductImage

MAIN_THUMB_WIDTH = 200
GALLERY_THUMB_WIDTHS = (200, 750)
THUMB_QUALITY = 82
FLATTEN_BACKGROUND = (255, 255, 255)  # thumbnails are shown on the mini-program's white pages


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
