"""Video sources: files, image folders, RTSP streams and webcams behind one FrameSource protocol."""

from streams.base import Frame, FrameSource, SourceError

__all__ = ["Frame", "FrameSource", "SourceError"]
