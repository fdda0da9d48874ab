"""The model_runner node type: ONNX models on frame streams (see node.py)."""
