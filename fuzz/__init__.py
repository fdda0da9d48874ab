"""Fuzz targets for everything that decodes bytes from a peer (see fuzz/run.py)."""
