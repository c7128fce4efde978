"""Face-analysis backends. Each pack: detect -> align -> embed; quality is shared (quality.py)."""

from .base import Detections, ModelPack, PackInfo
from .registry import PACKS, get_entry, is_installed, load_pack

__all__ = ["PACKS", "Detections", "ModelPack", "PackInfo", "get_entry", "is_installed", "load_pack"]
