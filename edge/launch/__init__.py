"""The launcher: launch files, validation, wiring, the supervisor and its control endpoint.

Built on the bus core in `edge` and never imported by it: an ad-hoc script that does
`from edge import Node` loads none of this.

    syntax      YAML / JSON text with line numbers
    graph       the loaded graph as data, and the problems found
    loader      a launch file (or a Kenning flow) into a Graph
    validate    a Graph checked against the node types
    wiring      a Graph into endpoints and per-node configs
    graphviz    a Graph as a picture
    restart     restart policy: backoff and a cap, pure decisions
    process     one child process: spawn, output prefixing, stop
    forkserver  starts nodes as forks of a pre-imported process (zygote), else spawns
    zygote      the pre-imported process itself
    supervisor  the running graph: one event loop, the control surface, shutdown
    children    every node's child process, as one collection
    guardian    ends every node's process group if the supervisor is killed
    waiters     conditions with deadlines the loop checks
    workers     the bounded pool for control work that waits on nodes
    commands    the control endpoint's command table (docstrings = reference)
    endpoint    where the control endpoint listens
    control     ControlClient, the Python face of the control endpoint
    topicstats  topic rates and drops from the nodes' counters
    hosts       `hosts:` and `host:`: checks, node ports, placement per host
    remote      the launcher's side of `edge agent`: one AgentLink thread per host
    remotechild a node run by an agent, offered to the supervisor as a ChildProcess
    agent       `edge agent`: runs a launcher's nodes on its machine
    scripts     node scripts sent to an agent, kept in its private runtime dir
"""
