"""Read and validate face captures in the NeRF, instant-ngp and nerfstudio conventions."""

from backend.captures.cameras import Camera, Distortion, Intrinsics
from backend.captures.capture import Capture, load_capture
from backend.captures.frame import Frame
from backend.captures.scene_box import SceneBox

__all__ = ["Camera", "Capture", "Distortion", "Frame", "Intrinsics", "SceneBox", "load_capture"]
