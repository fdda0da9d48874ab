"""A launch file node's `inputs` and `outputs` sections: topics, queue limits, transports,
shm sizes and trail switches, each checked with a problem naming the node and key.

`PortReader` is a part of the loader's builder (edge.launch.loader), which supplies
`problem` (report one) and `mapping` (a section as a dict with string keys).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Optional

from edge.config import TRANSPORTS
from edge.launch.graph import InputSpec
from messages.codec import short

INPUT_KEYS = ("topic", "queue_size", "queue_bytes", "max_message_bytes", "max_age_s")
INPUT_LIMITS = {"queue_bytes": "an integer >= 1", "max_message_bytes": "an integer >= 1",
                "max_age_s": "a finite number >= 0"}
MAX_SHM_MIN_BYTES = 1 << 32  # above any frame an input accepts by default
OUTPUT_KEYS = ("topic", "transport", "shm_min_bytes", "trail")
TOPIC_RULE = "topic must be a non-empty string without spaces"


def is_topic(value: Any) -> bool:
    return isinstance(value, str) and bool(value) and not any(c.isspace() for c in value)


class PortReader:
    """Reads the sections; the builder that inherits it reports through `problem`."""

    def problem(self, message: str, node: str | None = None, key: str | None = None,
                where: Any = None, at: Any = None) -> None:
        raise NotImplementedError

    def mapping(self, data: dict, key: str, label: str) -> dict:
        raise NotImplementedError

    def inputs(self, data: dict, label: str) -> dict:
        inputs = {}
        for local, value in self.mapping(data, "inputs", label).items():
            key = f"inputs.{local}"
            if isinstance(value, dict):
                for extra in value.keys() - set(INPUT_KEYS):
                    self.problem(f"unknown key {short(extra)} (known: {', '.join(INPUT_KEYS)})",
                                 label, key, value, extra)
                topic, queue_size = value.get("topic"), value.get("queue_size", 1)
            else:
                topic, queue_size = value, 1
            if not is_topic(topic):
                self.problem(f"{TOPIC_RULE}, got {short(topic)}", label, key,
                             data.get("inputs"), local)
                continue
            if type(queue_size) is not int or queue_size < 1:
                self.problem(f"queue_size must be an integer >= 1, got {short(queue_size)}",
                             label, key, data.get("inputs"), local)
                queue_size = 1
            limits = self.input_limits(value, label, key) if isinstance(value, dict) else {}
            inputs[local] = InputSpec(topic, queue_size, limits)
        return inputs

    def input_limits(self, value: dict, label: str, key: str) -> dict:
        """queue_bytes, max_message_bytes, max_age_s as given (edge.config.InputConfig)."""
        limits = {}
        for name, expected in INPUT_LIMITS.items():
            if name not in value:
                continue
            given = value[name]
            if name == "max_age_s":
                ok = type(given) in (int, float) and math.isfinite(given) and given >= 0
            else:
                ok = type(given) is int and given >= 1
            if ok:
                limits[name] = given
            else:
                self.problem(f"{name} must be {expected}, got {short(given)}", label, key,
                             value, name)
        return limits

    def output_sections(self, data: dict, label: str) -> dict:
        """The `outputs` section, read once, as NodeSpec's outputs, transports,
        shm_min_bytes and output_trails (each by local output name)."""
        ports = self.mapping(data, "outputs", label)
        return {"outputs": self.outputs(ports, data.get("outputs"), label),
                "transports": self.transports(ports, label),
                "shm_min_bytes": self.shm_min_bytes(ports, label),
                "output_trails": self.output_trails(ports, label)}

    def outputs(self, ports: dict, section: Any, label: str) -> dict:
        outputs = {}
        for local, topic in ports.items():
            if isinstance(topic, dict):  # {topic, transport}
                for extra in topic.keys() - set(OUTPUT_KEYS):
                    self.problem(f"unknown key {short(extra)} (known: {', '.join(OUTPUT_KEYS)})",
                                 label, f"outputs.{local}", topic, extra)
                topic = topic.get("topic")
            if not is_topic(topic):
                self.problem(f"{TOPIC_RULE}, got {short(topic)}", label, f"outputs.{local}",
                             section, local)
                continue
            outputs[local] = topic
        return outputs

    def transports(self, ports: dict, label: str) -> dict:
        """Outputs written as {topic, transport: shm}: frames by shared memory on this host."""
        return self._option(ports, "transport", label, lambda value: value in TRANSPORTS,
                            f"one of {', '.join(TRANSPORTS)}")

    def trail(self, data: dict, key: str, label: str, at: str = "trail") -> Optional[bool]:
        """A per-hop trail switch: true, false, or absent (follow the inputs)."""
        value = data.get(at)
        if value is not None and type(value) is not bool:
            self.problem(f"trail must be true or false, got {short(value)}", label, key, data, at)
            return None
        return value

    def shm_min_bytes(self, ports: dict, label: str) -> dict:
        """Outputs written as {topic, shm_min_bytes: N}: with transport auto, arrays of at
        least N bytes go to readers on this host by shared memory."""
        return self._option(ports, "shm_min_bytes", label,
                            lambda size: type(size) is int and 0 <= size <= MAX_SHM_MIN_BYTES,
                            f"an integer from 0 to {MAX_SHM_MIN_BYTES}")

    def output_trails(self, ports: dict, label: str) -> dict:
        """Outputs written as {topic, trail: true|false}: local name -> the switch."""
        given = self._option(ports, "trail", label,
                             lambda value: value is None or type(value) is bool, "true or false")
        return {local: switch for local, switch in given.items() if switch is not None}

    def _option(self, ports: dict, key: str, label: str, ok: Callable[[Any], bool],
                expected: str) -> dict:
        """Local output name -> its `key`, for outputs written as maps that give one."""
        found = {}
        for local, value in ports.items():
            if isinstance(value, dict) and key in value:
                if ok(value[key]):
                    found[local] = value[key]
                else:
                    self.problem(f"{key} must be {expected}, got {short(value[key])}", label,
                                 f"outputs.{local}", value, key)
        return found
