import io
import struct
import zlib

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from catalog.images import image_validate, product_images_uploaded
from catalog.models import ProductImage
from catalog.tests.factories import ProductFactory
from catalog.thumbnails import product_thumbnails_make, thumbnail_make
from mall.errors import InvalidImage


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.CATALOG_IMAGE_MAX_BYTES = 10 * 1024 * 1024
    settings.CATALOG_IMAGE_MAX_PIXELS = 40_000_000


def image_bytes(size=(1000, 600), mode="RGBA", image_format="PNG", **save_options) -> bytes:
    color = (200, 30, 30, 128) if mode == "RGBA" else (200, 30, 30)
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, format=image_format, **save_options)
    return buffer.getvalue()


def png_claiming_size(width: int, height: int) -> bytes:
    """A tiny valid PNG whose IHDR is patched to claim width×height (a decompression bomb)."""
    data = bytearray(image_bytes(size=(1, 1), mode="RGB"))
    ihdr_start = 8 + 8  # signature, then length + b"IHDR"
    data[ihdr_start : ihdr_start + 8] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[12 : ihdr_start + 13]))
    data[ihdr_start + 13 : ihdr_start + 17] = struct.pack(">I", crc)
    return bytes(data)


def upload(content: bytes, name: str = "a.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content)


def widths_of(field_file) -> tuple[int, int, str]:
    with field_file.open("rb"), Image.open(field_file) as image:
        return (*image.size, image.format)


@pytest.mark.django_db
def test_thumbnails_are_made_after_commit_with_the_right_widths(
    django_capture_on_commit_callbacks,
):
    # given
    product = ProductFactory()
    product.main_image.save("main.png", ContentFile(image_bytes()), save=True)
    gallery = ProductImage(product=product)
    gallery.image.save("g1.png", ContentFile(image_bytes(size=(1500, 1000))), save=True)
    small = ProductImage(product=product, sort_order=1)
    small.image.save("g2.png", ContentFile(image_bytes(size=(120, 80), mode="RGB")), save=True)

    # when
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        product_images_uploaded(product_id=product.pk)
        assert not type(product).objects.get(pk=product.pk).main_image_thumb  # not before commit

    # then
    assert len(callbacks) >= 1
    product.refresh_from_db()
    gallery.refresh_from_db()
    small.refresh_from_db()
    assert widths_of(product.main_image_thumb) == (200, 120, "WEBP")
    assert widths_of(gallery.thumb_200) == (200, 133, "WEBP")
    assert widths_of(gallery.thumb_750) == (750, 500, "WEBP")
    assert widths_of(small.thumb_750) == (120, 80, "WEBP")  # never upscaled
    assert product.main_image_thumb.name.startswith("products/thumbs/main-")


@pytest.mark.django_db
def test_thumbnail_task_run_twice_makes_nothing_the_second_time():
    # given
    product = ProductFactory()
    product.main_image.save("main.png", ContentFile(image_bytes()), save=True)
    ProductImage.objects.create(product=product, image=ContentFile(image_bytes(), name="g.png"))
    assert product_thumbnails_make(product_id=product.pk) == 3
    first_name = type(product).objects.get(pk=product.pk).main_image_thumb.name

    # when
    made_again = product_thumbnails_make(product_id=product.pk)

    # then
    assert made_again == 0
    assert type(product).objects.get(pk=product.pk).main_image_thumb.name == first_name


@pytest.mark.django_db
def test_a_replaced_source_gets_a_new_thumbnail_and_the_old_file_is_removed():
    # given
    product = ProductFactory()
    product.main_image.save("old.png", ContentFile(image_bytes()), save=True)
    product_thumbnails_make(product_id=product.pk)
    product.refresh_from_db()
    old_thumb = product.main_image_thumb.name
    product.main_image.save("new.png", ContentFile(image_bytes(size=(400, 400))), save=True)

    # when
    product_thumbnails_make(product_id=product.pk)

    # then
    product.refresh_from_db()
    assert product.main_image_thumb.name != old_thumb
    assert widths_of(product.main_image_thumb) == (200, 200, "WEBP")
    assert not product.main_image_thumb.storage.exists(old_thumb)


@pytest.mark.django_db
def test_exif_orientation_is_applied():
    # given: a 300×100 JPEG whose EXIF says "rotate 90°" (orientation 6)
    exif = Image.Exif()
    exif[0x0112] = 6
    product = ProductFactory()
    product.main_image.save(
        "rotated.jpg",
        ContentFile(image_bytes(size=(300, 100), mode="RGB", image_format="JPEG", exif=exif)),
        save=True,
    )

    # when
    thumb = thumbnail_make(product.main_image, 200)

    # then: shown upright it is 100×300, narrower than 200, so not scaled
    assert Image.open(io.BytesIO(thumb.read())).size == (100, 300)


def test_a_real_image_passes_validation():
    image_validate(upload(image_bytes()))
    image_validate(upload(image_bytes(mode="RGB", image_format="JPEG"), "a.jpg"))
    image_validate(upload(image_bytes(mode="RGB", image_format="WEBP"), "a.webp"))
    image_validate(upload(image_bytes(mode="RGB", image_format="GIF"), "a.gif"))


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        pytest.param(b"this is a text file, not a picture\n" * 10, "not_image", id="text"),
        pytest.param(image_bytes(mode="RGB", image_format="BMP"), "unsupported_format", id="bmp"),
        pytest.param(png_claiming_size(100_000, 100_000), "too_many_pixels", id="bomb-header"),
        pytest.param(image_bytes()[:60], "corrupt", id="truncated"),
    ],
)
def test_bad_files_are_refused_with_a_reason(content, reason):
    # when
    with pytest.raises(InvalidImage) as caught:
        image_validate(upload(content))

    # then
    assert caught.value.detail["reason"] == reason
    assert caught.value.code == "invalid_image"
    assert caught.value.message  # a Chinese sentence for the merchant


def test_a_file_over_the_size_limit_is_refused(settings):
    # given
    settings.CATALOG_IMAGE_MAX_BYTES = 1000
    content = image_bytes(size=(300, 300), mode="RGB", image_format="BMP")
    assert len(content) > 1000

    # when
    with pytest.raises(InvalidImage) as caught:
        image_validate(upload(content))

    # then
    assert caught.value.detail["reason"] == "too_large"
    assert "过大" in caught.value.message


def test_an_image_over_the_pixel_limit_is_refused_before_decoding(settings):
    # given: 5000×5000 is 25 megapixels, over a limit of 10
    settings.CATALOG_IMAGE_MAX_PIXELS = 10_000_000

    # when
    with pytest.raises(InvalidImage) as caught:
        image_validate(upload(png_claiming_size(5000, 5000)))

    # then
    assert caught.value.detail == {
        "reason": "too_many_pixels",
        "width": 5000,
        "height": 5000,
        "max_pixels": 10_000_000,
    }
