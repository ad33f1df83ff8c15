"""Errors the user can act on.

Every problem caused by input (a capture, a style image, a command-line value) is raised
as a subclass of :class:`BackendError` with a message that names the file, the frame and
what is wrong. The CLI and the server print that message instead of a traceback.
"""


class BackendError(Exception):
    """A problem with the user's input or environment, with a message meant for them."""


class CaptureError(BackendError):
    """A capture folder that cannot be used as it is."""


class CheckpointError(BackendError):
    """A saved model that is missing, incomplete or from an incompatible version."""


class JobCancelled(BackendError):
    """Raised from a progress callback to stop a run; the run leaves finished stages intact."""


class WeightsError(BackendError):
    """Pretrained weights that are missing, fail their checksum or cannot be read."""
