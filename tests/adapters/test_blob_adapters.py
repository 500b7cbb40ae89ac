"""BlobSource adapters: Blob Storage (against Azurite) and the local folder
behave the same for reading drops and writing snapshots and quarantined files."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.adapters.blob import BlobNotFound, BlobStorageSource, LocalFolderBlobSource, build_blobs
from common.config import Settings
from common.ports import BlobSource


@pytest.fixture(params=["azurite", "folder"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> BlobSource:
    if request.param == "folder":
        return LocalFolderBlobSource(tmp_path / "data")
    source: BlobStorageSource = request.getfixturevalue("azurite")
    return source


def test_a_written_blob_reads_back_byte_for_byte(blobs: BlobSource, container_name: str) -> None:
    data = bytes(range(256)) * 64
    blobs.write(container_name, "2026/11/drop.parquet", data)
    assert blobs.read(container_name, "2026/11/drop.parquet") == data
    assert blobs.exists(container_name, "2026/11/drop.parquet")


def test_writing_again_replaces_the_blob(blobs: BlobSource, container_name: str) -> None:
    blobs.write(container_name, "snapshot.parquet", b"one")
    blobs.write(container_name, "snapshot.parquet", b"two")
    assert blobs.read(container_name, "snapshot.parquet") == b"two"


def test_listing_filters_by_prefix_and_is_sorted(blobs: BlobSource, container_name: str) -> None:
    for name in ("b/2.parquet", "a/1.parquet", "b/1.parquet", "c.txt"):
        blobs.write(container_name, name, b"x")
    assert blobs.list(container_name) == ["a/1.parquet", "b/1.parquet", "b/2.parquet", "c.txt"]
    assert blobs.list(container_name, "b/") == ["b/1.parquet", "b/2.parquet"]


def test_a_missing_blob_is_a_precise_error_and_a_missing_container_lists_nothing(
        blobs: BlobSource, container_name: str) -> None:
    with pytest.raises(BlobNotFound) as caught:
        blobs.read(container_name, "nope.parquet")
    assert caught.value.container == container_name
    assert not blobs.exists(container_name, "nope.parquet")
    assert blobs.list(f"{container_name}-none") == []


def test_only_the_local_folder_offers_a_path_on_disk(tmp_path: Path) -> None:
    folder = LocalFolderBlobSource(tmp_path)
    folder.write("project-master", "drop.parquet", b"data")
    path = folder.local_path("project-master", "drop.parquet")
    assert path is not None and Path(path) == tmp_path / "project-master" / "drop.parquet"
    assert folder.local_path("project-master", "missing.parquet") is None


def test_the_local_folder_refuses_names_that_leave_it(tmp_path: Path) -> None:
    folder = LocalFolderBlobSource(tmp_path / "data")
    for container, name in (("project-master", "../../etc/passwd"), ("..", "x"), ("a/b", "x")):
        with pytest.raises(ValueError):
            folder.write(container, name, b"x")
    assert not (tmp_path / "etc").exists()


def test_settings_select_blob_storage_only_when_a_storage_account_is_configured(tmp_path: Path) -> None:
    local = Settings(OMS_DATA_DIR=str(tmp_path))  # type: ignore[call-arg]
    assert isinstance(build_blobs(local), LocalFolderBlobSource)
    azure = Settings(OMS_DATA_DIR=str(tmp_path),  # type: ignore[call-arg]
                     AzureWebJobsStorage__blobServiceUri="https://acct.blob.core.windows.net")
    assert isinstance(build_blobs(azure), BlobStorageSource)
