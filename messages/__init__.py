"""Wire codec and typed schemas. Pure: no sockets, no zmq, no I/O."""
from messages.codec import DecodeError, Encoder, Limits, PROTOCOL_VERSION, EXT_NDARRAY, unpack
from messages.frames import (CallEncoder, ReplyMessage, RequestMessage, StreamMessage,
                             new_encoder, new_stream_encoder)
from messages.models import ModelInfo, ModelMetadata, Stats
from messages.schema import Schema, SchemaError, SCHEMAS
from messages.tensors import Dim, TensorMap, TensorSpec
from messages.vision import Classification, Detections, Image, Text

__all__ = [
    "DecodeError", "Encoder", "Limits", "PROTOCOL_VERSION", "EXT_NDARRAY", "unpack",
    "CallEncoder", "ReplyMessage", "RequestMessage", "StreamMessage", "new_encoder",
    "new_stream_encoder",
    "ModelInfo", "ModelMetadata", "Stats", "Schema", "SchemaError", "SCHEMAS",
    "Dim", "TensorMap", "TensorSpec", "Classification", "Detections", "Image", "Text",
]
