"""Reading a model archive takes bounded memory and disk whatever its headers say: each kind of
hostile archive is refused with ArtifactError, saying why, before the bytes its headers ask
for are read (tracemalloc's peak stays far below them); honest archives, tar's long-name
forms and members in any order still load."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench import hostile_archives as hostile
from shared_models.config import BATCH_NORMS, MAX_NETWORK_PARAMETERS, GeneratorConfig
from shared_models.model_card import CARD_FILE, card_figures, metrics_lines
from shared_models.pretrained import (
    MAX_CARD_BYTES,
    MAX_CENTRAL_DIRECTORY_BYTES,
    MAX_EXTENDED_HEADER_BYTES,
    MAX_UNPACKED_BYTES,
    MAX_WEIGHTS_BYTES,
    extract_artifact,
    load_pretrained,
    write_archive,
)
from shared_models.serving_artifact import (
    CONFIG_FILE,
    SAFETENSORS_HEADER_BYTES,
    WEIGHTS_FILE,
    ArtifactError,
)
from tests.conftest import TINY_G

ASKED = 16 << 20  # what each hostile archive here asks for: far over every bound it meets
SMALL_PEAK = 2 << 20  # what refusing one may allocate in Python objects


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return hostile.model_folder(tmp_path_factory.mktemp("model") / "model", TINY_G)


def refused(path: Path, message: str, **options: int) -> str:
    """Load ``path``, which must be refused with ``message``, allocating little on the way."""
    tracemalloc.start()
    try:
        with pytest.raises(ArtifactError, match=message) as error:
            load_pretrained(path, **options)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < SMALL_PEAK, f"{peak} bytes allocated while refusing {path.name}"
    assert str(path) in str(error.value)
    return str(error.value)


HOSTILE: dict[str, tuple[Callable[[Path, Path, int], None], str, str]] = {
    "GNU long name": (hostile.long_name_tar, "x.tar.gz",
                      f"extended header of {ASKED} bytes, over the {MAX_EXTENDED_HEADER_BYTES}"),
    "PAX header": (hostile.pax_tar, "x.tar.gz",
                   f"extended header of \\d+ bytes, over the {MAX_EXTENDED_HEADER_BYTES}"),
    "tar weights": (hostile.big_weights_tar, "x.tar.gz",
                    f"model/model.safetensors is {ASKED} bytes; its config.json declares \\d+"),
    "zip weights": (hostile.big_weights_zip, "x.zip",
                    f"model/model.safetensors is {ASKED} bytes; its config.json declares \\d+"),
    "declared weights": (hostile.declared_weights_zip, "x.zip",
                         f"model/config.json: declares weights of {ASKED} bytes; its "
                         "architecture's take at most \\d+ bytes"),
}


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_a_hostile_archive_is_refused_before_it_is_read(model, tmp_path, kind):
    build, name, message = HOSTILE[kind]
    path = tmp_path / name
    build(path, model, ASKED)
    refused(path, message)


def test_a_gzip_bomb_is_refused_by_its_declared_size_or_once_it_unpacks_too_far(
    model, tmp_path, monkeypatch
):
    declared = tmp_path / "declared.tar.gz"
    with open(declared, "wb") as raw, io.BytesIO() as header:
        header.write(hostile.tar_header(b"filler.bin", MAX_UNPACKED_BYTES + 1))
        raw.write(gzip.compress(header.getvalue()))  # no data follows: it is never read
    refused(declared, f"its entries declare over {MAX_UNPACKED_BYTES} bytes")
    bomb = tmp_path / "bomb.tar.gz"
    hostile.filler_tar(bomb, model, ASKED)
    monkeypatch.setattr("shared_models.pretrained.MAX_TAR_STREAM_BYTES", 1 << 20)
    refused(bomb, "unpacks to more than 1048576 bytes")


def test_a_zip_listing_too_many_entries_is_refused_before_zipfile_lists_them(tmp_path):
    crowded = tmp_path / "crowded.zip"
    hostile.crowded_zip(crowded, 20_000)
    refused(crowded, "more than 64 entries")
    lying = tmp_path / "lying.zip"  # its end record says 3 entries
    hostile.crowded_zip(lying, 30_000, says=3)
    refused(lying, f"a list of entries of \\d+ bytes, over the {MAX_CENTRAL_DIRECTORY_BYTES}")


def test_an_archive_over_max_archive_bytes_is_refused_unopened(model, tmp_path):
    archive = write_archive({name: model / name for name in (CONFIG_FILE, WEIGHTS_FILE)},
                            tmp_path / "m.zip", "zip", "m")
    size = archive.stat().st_size
    refused(archive, f"the archive is {size} bytes, over the 1000 allowed", max_archive_bytes=1000)
    _, info = load_pretrained(archive, max_archive_bytes=size)
    assert info.generator_config == TINY_G


def test_weights_before_their_config_json_are_read_on_a_second_pass(model, tmp_path):
    """A tar made in another order (``tar -czf``: the folder's order) still loads, and its
    weights are still held to what its config.json declares."""
    reordered = tmp_path / "reordered.tar.gz"
    with tarfile.open(reordered, "w:gz") as tar:
        for name in (WEIGHTS_FILE, CONFIG_FILE):
            tar.add(model / name, f"model/{name}")
    _, info = load_pretrained(reordered)
    assert info.generator_config == TINY_G
    oversized = tmp_path / "oversized.tar.gz"
    with tarfile.open(oversized, "w:gz") as tar:
        weights = tarfile.TarInfo(f"model/{WEIGHTS_FILE}")
        weights.size = ASKED
        tar.addfile(weights, io.BytesIO(bytes(ASKED)))
        tar.add(model / CONFIG_FILE, f"model/{CONFIG_FILE}")
    refused(oversized, f"model/model.safetensors is {ASKED} bytes; its config.json declares")


@pytest.mark.parametrize("form", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT])
def test_long_names_in_each_tar_form_still_load(model, tmp_path, form):
    """GNU long-name headers, PAX path records and a POSIX name prefix, as tarfile writes
    them for a top folder longer than a header's name field."""
    top = "m" * 150
    path = tmp_path / "long.tar.gz"
    with tarfile.open(path, "w:gz", format=form) as tar:
        for name in (CONFIG_FILE, WEIGHTS_FILE):
            tar.add(model / name, f"{top}/{name}")
    _, info = load_pretrained(path)
    assert info.generator_config == TINY_G


def test_the_weights_bound_is_above_every_generator_within_the_parameter_cap():
    largest = 2 * 4 * MAX_NETWORK_PARAMETERS + 8 * BATCH_NORMS + SAFETENSORS_HEADER_BYTES
    assert MAX_WEIGHTS_BYTES >= largest
    wide = GeneratorConfig(hidden=4096, channels=192)  # near the cap
    assert wide.state_dict_bytes < 2 * 4 * wide.parameter_count


# --- damaged archives ----------------------------------------------------------------------


@pytest.fixture(scope="module", params=["zip", "tar.gz", "tar in its gzip"])
def honest(request, model, tmp_path_factory) -> tuple[Path, bytes, bool]:
    """An honest archive, its bytes, and whether damage goes to the tar inside the gzip."""
    kind = "zip" if request.param == "zip" else "tar.gz"
    path = write_archive({name: model / name for name in (CONFIG_FILE, WEIGHTS_FILE)},
                         tmp_path_factory.mktemp("honest") / f"m.{kind}", kind, "m")
    inside = request.param == "tar in its gzip"
    return path, gzip.decompress(path.read_bytes()) if inside else path.read_bytes(), inside


@settings(max_examples=120, derandomize=True, deadline=None, database=None)
@given(data=st.data())
def test_a_damaged_archive_is_loaded_or_refused_with_an_artifact_error(honest, data):
    path, intact, inside = honest
    damaged = bytearray(intact)
    for _ in range(data.draw(st.integers(1, 6))):
        damaged[data.draw(st.integers(0, len(damaged) - 1))] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        del damaged[data.draw(st.integers(0, len(damaged))):]
    path.write_bytes(gzip.compress(bytes(damaged)) if inside else bytes(damaged))
    try:
        load_pretrained(path)
    except ArtifactError as error:
        assert str(path) in str(error)


def test_a_zip_entry_that_understates_its_size_gives_no_more_than_it_says(model, tmp_path):
    """Stored weights whose zip headers (and config.json) say 100 bytes fewer than they hold:
    the copy takes the bytes declared, no more, and the CRC refuses them."""
    weights = (model / WEIGHTS_FILE).read_bytes()
    config = json.loads((model / CONFIG_FILE).read_text())
    path = tmp_path / "understated.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zipped:
        zipped.writestr(f"m/{CONFIG_FILE}", json.dumps({**config, "size": len(weights) - 100}))
        zipped.writestr(f"m/{WEIGHTS_FILE}", weights)
    size = len(weights).to_bytes(4, "little")
    smaller = (len(weights) - 100).to_bytes(4, "little")
    raw = path.read_bytes()
    assert raw.count(size * 2) == 2  # (compressed, uncompressed) in both headers
    path.write_bytes(raw.replace(size * 2, size + smaller))
    refused(path, "Bad CRC-32")


def test_a_model_card_kept_over_its_bound_is_refused_and_one_within_is_copied_out(model, tmp_path):
    """An import keeps the card (bounded); loading a model reads no card, however long."""
    files = {name: model / name for name in (CONFIG_FILE, WEIGHTS_FILE)}
    card = tmp_path / CARD_FILE
    card.write_bytes(b"#" * (MAX_CARD_BYTES + 1))
    too_big = write_archive({**files, CARD_FILE: card}, tmp_path / "big.zip", "zip", "model")
    with pytest.raises(ArtifactError, match=f"model/README.md is {MAX_CARD_BYTES + 1} bytes, "
                       f"over the {MAX_CARD_BYTES}"):
        extract_artifact(too_big, "zip", tmp_path / "kept", with_card=True)
    loaded = extract_artifact(too_big, "zip", tmp_path / "loaded")
    assert not (loaded / CARD_FILE).exists() and (loaded / WEIGHTS_FILE).is_file()
    load_pretrained(too_big)
    card.write_text("# a card")
    honest = write_archive({**files, CARD_FILE: card}, tmp_path / "card.tar.gz", "tar.gz", "m")
    out = extract_artifact(honest, "tar.gz", tmp_path / "out", with_card=True)
    assert (out / CARD_FILE).read_text() == "# a card"


def test_a_cards_figures_are_read_back_and_a_hostile_cards_are_bounded_and_finite():
    scored = {"n": 10_000, "seed": 0, "frechet_distance": 12_345.678, "inception_score": 8.27,
              "classes_covered": 10, "label_accuracy": 0.9217}
    honest = "# card\n\n## Evaluation\n\n" + "\n".join(metrics_lines(scored, "", "MNIST"))
    assert card_figures(honest) == {**scored, "frechet_distance": 12_350.0,
                                    "inception_score": 8.27, "label_accuracy": 0.922}
    hostile = ("## Evaluation\n| Fréchet distance | 1e999 |\n| Inception Score | "
               + "9" * 5000 + " |\nOn " + "9" * 6000 + " samples (noise seed 1)\n"
               "| classes holding | 7/10 |\n")
    assert card_figures("x\n" + hostile) == {"classes_covered": 7}
