"""BlobSource adapters: Azure Blob Storage (and Azurite), or a local folder.

`BlobStorageSource` uses one `BlobServiceClient` per process, made on first
use: by connection string (Azurite: `UseDevelopmentStorage=true` or the
well-known development account) or by managed identity on the account's blob
endpoint (shared keys are off in Azure). `LocalFolderBlobSource` serves the
embedded mode: a container is a subfolder of OMS_DATA_DIR, a blob a file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from pathlib import Path, PurePosixPath
from typing import Any

from common.config import Settings
from common.ports import BlobNotFound

AZURITE_CONNECTION = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
)


class BlobStorageSource:
    def __init__(self, *, connection_string: str | None = None, account_url: str | None = None,
                 client_id: str | None = None) -> None:
        if not connection_string and not account_url:
            raise ValueError("a storage connection string or blob endpoint is needed")
        if connection_string and connection_string.strip().lower().startswith("usedevelopmentstorage=true"):
            connection_string = AZURITE_CONNECTION
        self._connection_string = connection_string
        self._account_url = account_url
        self._client_id = client_id
        self._service: Any = None
        self._created: set[str] = set()
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> BlobStorageSource:
        return cls(connection_string=settings.storage_connection, account_url=settings.storage_blob_uri,
                   client_id=settings.storage_client_id)

    def _client(self) -> Any:
        with self._lock:
            if self._service is None:
                from azure.storage.blob import BlobServiceClient

                if self._account_url:
                    from azure.identity import DefaultAzureCredential

                    credential = DefaultAzureCredential(managed_identity_client_id=self._client_id)
                    self._service = BlobServiceClient(self._account_url, credential=credential)
                else:
                    self._service = BlobServiceClient.from_connection_string(self._connection_string or "")
            return self._service

    def _container(self, container: str) -> Any:
        return self._client().get_container_client(container)

    def read(self, container: str, name: str) -> bytes:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            data: bytes = self._container(container).download_blob(name).readall()
        except ResourceNotFoundError as error:
            raise BlobNotFound(container, name) from error
        return data

    def write(self, container: str, name: str, data: bytes) -> None:
        from azure.core.exceptions import ResourceExistsError

        client = self._container(container)
        if container not in self._created:
            with contextlib.suppress(ResourceExistsError):
                client.create_container()
            self._created.add(container)
        client.upload_blob(name, data, overwrite=True)

    def exists(self, container: str, name: str) -> bool:
        return bool(self._container(container).get_blob_client(name).exists())

    def delete(self, container: str, name: str) -> bool:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self._container(container).delete_blob(name)
        except ResourceNotFoundError:
            return False
        return True

    def list(self, container: str, prefix: str = "") -> list[str]:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return sorted(b.name for b in self._container(container).list_blobs(name_starts_with=prefix or None))
        except ResourceNotFoundError:
            return []

    def local_path(self, container: str, name: str) -> str | None:
        return None

    def close(self) -> None:
        with self._lock:
            if self._service is not None:
                self._service.close()
                self._service = None


class LocalFolderBlobSource:
    """Containers are subfolders of `root` (OMS_DATA_DIR); names may hold '/'."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, container: str, name: str) -> Path:
        parts = PurePosixPath(name).parts
        if not container or "/" in container or container in (".", "..") or not parts \
                or any(p in ("..", "/") for p in parts):
            raise ValueError(f"not a blob name: {container}/{name}")
        return self.root.joinpath(container, *parts)

    def read(self, container: str, name: str) -> bytes:
        path = self._path(container, name)
        if not path.is_file():
            raise BlobNotFound(container, name)
        return path.read_bytes()

    def write(self, container: str, name: str, data: bytes) -> None:
        path = self._path(container, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename: a reader (the inbox watcher) never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def exists(self, container: str, name: str) -> bool:
        return self._path(container, name).is_file()

    def delete(self, container: str, name: str) -> bool:
        path = self._path(container, name)
        if not path.is_file():
            return False
        path.unlink()
        return True

    def list(self, container: str, prefix: str = "") -> list[str]:
        base = self.root / container
        if not base.is_dir():
            return []
        names = (p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file())
        return sorted(n for n in names if n.startswith(prefix) and not PurePosixPath(n).name.startswith(".tmp-"))

    def local_path(self, container: str, name: str) -> str | None:
        path = self._path(container, name)
        return str(path) if path.is_file() else None

    def close(self) -> None:
        """Nothing held open."""


def build_blobs(settings: Settings) -> BlobStorageSource | LocalFolderBlobSource:
    """Blob Storage when a storage account is configured, else the local folder."""
    if settings.storage_blob_uri or settings.storage_connection:
        return BlobStorageSource.from_settings(settings)
    return LocalFolderBlobSource(settings.data_path)
