"""Video sources: files, image folders, RTSP streams and webcams behind one FrameSource protocol.

Use :func:`open_source` to get the right source for a camera's ``source`` string.
"""

from streams.base import Frame, FrameSource, SourceError
from streams.factory import open_source
from streams.image_folder import ImageFolderSource
from streams.live import LiveSource
from streams.stats import SourceStats
from streams.video_file import VideoFileSource

__all__ = ["Frame", "FrameSource", "SourceError", "SourceStats", "open_source", "VideoFileSource",
           "ImageFolderSource", "LiveSource"]
