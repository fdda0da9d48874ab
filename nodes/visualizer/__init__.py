"""The visualizer node type: results drawn on live frames; a window, a web page or a file."""
