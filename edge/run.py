"""Entry point of a launched node process: `python -m edge.run` with $EDGE_NODE_CONFIG set."""
from __future__ import annotations

import logging
import sys

from edge.config import NodeConfig
from edge.errors import ConfigError, EdgeError
from edge.node import Node
from edge.nodetype import load_node_type

EXIT_CONFIG = 78  # EX_CONFIG (sysexits.h): a ConfigError; restarting cannot help
EXIT_FAILED = 1   # a runtime failure reported as one line; a restart may help


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    config = NodeConfig.from_env(None)
    if config is None:
        print("edge.run: $EDGE_NODE_CONFIG is not set; nodes are started by `edge launch`",
              file=sys.stderr)
        return 2
    try:
        node_type = load_node_type(config.type)
    except LookupError as exc:
        print(f"node {config.name!r}: {exc}", file=sys.stderr)
        return 2
    params, problems = node_type.resolve_parameters(config.parameters)
    if problems:
        print(f"node {config.name!r}: " + "; ".join(problems), file=sys.stderr)
        return 2
    config.parameters = params
    node = Node(config=config)
    node.launched = True
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


if __name__ == "__main__":
    sys.exit(main())
