"""`edge measure`: run a user's graph and judge it — timing, resources, quality — in a report.

    session     launches the graph as `edge launch` would and drives the run
    probe       an ad-hoc node that watches every topic: latency, sizes, frames behind, scores
    sampler     CPU and RSS of each node's process over time (psutil)
    summary     percentiles and the measurements.json document
    report      report.html: tables and matplotlib plots embedded as SVG
    compare     two measurements.json side by side

The benchmarks in benchmarks/ measure the runtime itself; this measures users' graphs.
docs/MEASURE.md documents the JSON schema.
"""
