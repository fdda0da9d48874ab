"""Entry point of a launched node process: `python -m edge.run` with $EDGE_NODE_CONFIG set.

It takes the config out of the environment and hands it on explicitly: to `Node(config=...)`
for a node type, or, for a script, to the first `Node()` the script creates.
"""
from __future__ import annotations

import logging
import runpy
import sys
from pathlib import Path

from edge.config import NodeConfig, hand_over
from edge.errors import ConfigError, EdgeError
from edge.node import Node
from edge.nodetype import load_node_type

EXIT_CONFIG = 78  # EX_CONFIG (sysexits.h): a ConfigError; restarting cannot help
EXIT_FAILED = 1   # a runtime failure reported as one line; a restart may help


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    config = NodeConfig.take_from_env()
    if config is None:
        print("edge.run: $EDGE_NODE_CONFIG is not set; nodes are started by `edge launch`",
              file=sys.stderr)
        return 2
    try:
        node_type = load_node_type(config.type)
    except LookupError as exc:
        print(f"node {config.name!r}: {exc}", file=sys.stderr)
        return 2
    if isinstance(node_type, Path):
        return run_script(node_type, config)
    params, problems = node_type.resolve_parameters(config.parameters)
    if problems:
        print(f"node {config.name!r}: " + "; ".join(problems), file=sys.stderr)
        return 2
    config.parameters = params
    node = Node(config=config)
    node.param_specs = dict(node_type.parameters)
    try:
        node_type().run(node)
    except ConfigError as exc:
        print(f"node {config.name!r}: {exc.message}", file=sys.stderr)
        return EXIT_CONFIG
    except EdgeError as exc:
        print(f"node {config.name!r}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        node.close()
    return 0


def run_script(path: Path, config: NodeConfig) -> int:
    """Run a script node as `python script.py` would, its config waiting for its Node()."""
    hand_over(config)
    sys.argv = [str(path)]
    sys.path.insert(0, str(path.resolve().parent))
    runpy.run_path(str(path), run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
