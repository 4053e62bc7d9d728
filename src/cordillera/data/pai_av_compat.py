"""Opening a local PhysicalAI-AV directory with NVIDIA's own client, `physical_ai_av` (optional extra `pai-av`).

    pip install -e '.[pai-av]'
    >>> from cordillera.data.pai_av_compat import open_with_client
    >>> client = open_with_client("runs/pai", "runs/pai-hf-cache")
    >>> client.get_clip_feature(clip_id, "egomotion")(timestamps_us).pose      # its interpolator

Why a cache: `PhysicalAIAVDatasetInterface(local_dir=...)` does not read a local directory. It finds files only
through `huggingface_hub.try_to_load_from_cache(cache_dir=...)` (utils/hf_interface.py,
`HfRepoInterface._get_cached_path`); `local_dir` is only where downloads are placed. Anything not found there goes
to the Hub: `HfRepoInterface.__init__` calls `HfApi.list_repo_refs` when no revision is given,
`HfRepoInterface.download_file` calls `HfApi.get_paths_info` and `hf_hub_download`,
`PhysicalAIAVDatasetInterface._load_metadata` calls `HfApi.file_exists` for metadata/feature_presence.parquet, and
`open_file(maybe_stream=True)` streams through `HfFileSystem`. So this function lays a Hugging Face cache snapshot
(symlinks, one per file) over the directory under a fixed revision and builds the client with the Hub's offline
mode on: every read is then local, and a missing file is an `OfflineModeIsEnabled` error instead of a download.
"""

from __future__ import annotations

import os
from pathlib import Path

from cordillera.data.pai_av import PaiAvError, is_pai_av_dir

__all__ = ["open_with_client", "LOCAL_REVISION", "REPO_ID"]

REPO_ID = "nvidia/PhysicalAI-Autonomous-Vehicles"
LOCAL_REVISION = "0" * 40  # a commit-shaped revision: the client then trusts the snapshot as immutable


def _snapshot(root: Path, cache_dir: Path) -> Path:
    snapshot = cache_dir / ("datasets--" + REPO_ID.replace("/", "--")) / "snapshots" / LOCAL_REVISION
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        link = snapshot / path.relative_to(root)
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        os.symlink(path.resolve(), link)
    return snapshot


def open_with_client(root: str | Path, cache_dir: str | Path):
    """A `physical_ai_av.PhysicalAIAVDatasetInterface` over the local directory `root`, offline."""
    root = Path(root)
    if not is_pai_av_dir(root):
        raise PaiAvError(f"{root}: not a PhysicalAI-AV directory (features.csv, clip_index.parquet)")
    try:
        import huggingface_hub.constants as hub
        import physical_ai_av
    except ImportError as exc:
        raise PaiAvError(f"the published client is not installed ({exc}); pip install -e '.[pai-av]'") from None
    _snapshot(root, Path(cache_dir))
    offline = hub.HF_HUB_OFFLINE
    hub.HF_HUB_OFFLINE = True  # read at construction: the client then never asks the Hub
    try:
        return physical_ai_av.PhysicalAIAVDatasetInterface(revision=LOCAL_REVISION, repo_id=REPO_ID, token=False,
                                                           cache_dir=str(cache_dir), local_dir=str(root),
                                                           confirm_download_threshold_gb=0.0)
    finally:
        hub.HF_HUB_OFFLINE = offline
