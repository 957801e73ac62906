"""A busybox image for the engines, built here from busybox-static (no registry).

``rootfs_tar`` is the layer podman imports (``podman import``); ``oci_archive`` wraps
the same layer in an OCI image layout tarball that ``ctr images import`` reads
(image-spec: ``oci-layout``, ``index.json``, ``blobs/sha256/…``; containerd names
the image after the ``io.containerd.image.name`` annotation).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile

from fire.bundle import make_rootfs

ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64"}
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _normalize(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 0
    return info


def rootfs_tar(workdir: str) -> str:
    """An uncompressed tar of a fresh busybox rootfs; returns its path."""
    rootfs = os.path.join(workdir, "image-rootfs")
    make_rootfs(rootfs)
    path = os.path.join(workdir, "busybox-rootfs.tar")
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(os.listdir(rootfs)):
            tar.add(os.path.join(rootfs, name), arcname=name, filter=_normalize)
    return path


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = _normalize(tarfile.TarInfo(name))
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def _blob(tar: tarfile.TarFile, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    _add(tar, f"blobs/sha256/{digest}", data)
    return "sha256:" + digest


def oci_archive(workdir: str, layer_tar: str, name: str, cmd: list[str] | None = None,
                filename: str = "busybox-oci.tar") -> str:
    """An OCI image layout tarball holding ``layer_tar`` as its one layer, whose
    default command is ``cmd`` (``/bin/sh`` unless told)."""
    with open(layer_tar, "rb") as f:
        layer = f.read()
    compressed = gzip.compress(layer, mtime=0)
    path = os.path.join(workdir, filename)
    with tarfile.open(path, "w") as tar:
        _add(tar, "oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
        layer_digest = _blob(tar, compressed)
        config = json.dumps({
            "architecture": ARCHITECTURES.get(os.uname().machine, os.uname().machine),
            "os": "linux",
            "config": {"Cmd": cmd or ["/bin/sh"], "Env": [PATH_ENV]},
            "rootfs": {"type": "layers",
                       "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]},
        }).encode()
        config_digest = _blob(tar, config)
        manifest = json.dumps({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": config_digest, "size": len(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": layer_digest, "size": len(compressed)}],
        }).encode()
        manifest_digest = _blob(tar, manifest)
        index = json.dumps({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest, "size": len(manifest),
                "annotations": {"io.containerd.image.name": name,
                                "org.opencontainers.image.ref.name": name.rsplit(":", 1)[-1]},
            }],
        }).encode()
        _add(tar, "index.json", index)
    return path


def docker_archive(workdir: str, layer_tar: str, name: str) -> str:
    """A ``docker save`` tarball holding ``layer_tar`` as its one layer.

    Docker 20.10's ``docker load`` reads this format (``manifest.json`` naming the
    config and the layer tarballs; the config's ``diff_ids`` are the layers'
    digests), not yet an OCI layout.
    """
    with open(layer_tar, "rb") as f:
        layer = f.read()
    layer_digest = hashlib.sha256(layer).hexdigest()
    config = json.dumps({
        "architecture": ARCHITECTURES.get(os.uname().machine, os.uname().machine),
        "os": "linux",
        "config": {"Cmd": ["/bin/sh"], "Env": [PATH_ENV]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + layer_digest]},
    }).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    path = os.path.join(workdir, "busybox-docker.tar")
    with tarfile.open(path, "w") as tar:
        _add(tar, config_name, config)
        _add(tar, f"{layer_digest}/layer.tar", layer)
        manifest = [{"Config": config_name, "RepoTags": [name],
                     "Layers": [f"{layer_digest}/layer.tar"]}]
        _add(tar, "manifest.json", json.dumps(manifest).encode())
    return path
