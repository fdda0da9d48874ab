"""The visualizer node type: results drawn on live frames, shown in a window, a web page or a file."""
