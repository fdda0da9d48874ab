"""`edge model ...`: run a model manager, and upload, inspect, load and run models on one.

Plugged into the `edge` command through the `edge.cli_commands` entry point; the
group in edge.cli turns every EdgeError into one line and exit code 1.
"""
from __future__ import annotations

import contextlib
import functools
import mmap
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import numpy as np

from edge.endpoints import ipc_listening
from edge.errors import InvalidArgument, NotFound, Unavailable
from messages import TensorSpec

from .client import ModelManagerClient, default_endpoint
from .node import DEFAULTS, serve_standalone
from .specs import describe


@click.group()
def model() -> None:
    """Manage and run ONNX models on a model manager."""


def connects(command):
    """The --endpoint and --timeout options, turned into a `client` argument."""
    @click.option("--endpoint", default=None, metavar="ENDPOINT",
                  help="model manager endpoint (default: $EDGE_MODEL_MANAGER or the ipc "
                       "endpoint 'model_manager')")
    @click.option("--timeout", "timeout_s", type=float, default=None,
                  help="seconds per attempt of every call, 3 attempts [default: 10, "
                       "and 120 for uploads and loads]")
    @functools.wraps(command)
    def wrapper(endpoint: str | None, timeout_s: float | None, **kwargs):
        endpoint = endpoint or default_endpoint()
        if ipc_listening(endpoint) is False:  # found at once, not after timeout x 3
            raise Unavailable(f"no model manager at {endpoint}: nothing listens there; start "
                              "one with `edge model serve` or pass --endpoint")
        with ModelManagerClient(endpoint, timeout_s=timeout_s) as client:
            return command(client, **kwargs)
    return wrapper


@model.command()
@click.option("--repo", type=click.Path(file_okay=False), default=None,
              help="repository directory (default $EDGE_MODEL_REPO or ~/.local/share/edge/models)")
@click.option("--endpoint", default=None, help="bind here (default: as for the other commands)")
@click.option("--workers", type=int, default=DEFAULTS.workers, show_default=True)
@click.option("--max-model-bytes", type=int, default=DEFAULTS.max_model_bytes, show_default=True)
@click.option("--grpc", "grpc_address", default=None, metavar="HOST:PORT",
              help="also serve tritonclient's and pykos's gRPC services here (port 0: any free)")
def serve(repo: str | None, endpoint: str | None, workers: int, max_model_bytes: int,
          grpc_address: str | None) -> None:
    """Serve a model repository until SIGINT or SIGTERM."""
    def ready(bound: str, repo_dir: Path, grpc_bound: str) -> None:
        also = f", grpc {grpc_bound}" if grpc_bound else ""
        click.echo(f"model manager serving on {bound} (repository {repo_dir}{also})")
        sys.stdout.flush()

    params = {"repo": repo, "workers": workers, "max_model_bytes": max_model_bytes,
              "grpc": grpc_address}
    sys.exit(serve_standalone(params, endpoint or default_endpoint(), ready))


@model.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", default=None, help="default: the file name without .onnx")
@click.option("--version", default="")
@click.option("--description", default="")
@click.option("--author", default="")
@connects
def upload(client: ModelManagerClient, file: Path, name: str | None, version: str,
           description: str, author: str) -> None:
    """Upload an ONNX FILE; prints its uid."""
    metadata = {"name": file.stem if name is None else name, "version": version,
                "description": description, "author": author}
    with _mapped(file) as data, click.progressbar(
            length=len(data), label=f"uploading {file.name}", file=sys.stderr) as bar:
        sent = [0]

        def progress(done: int, total: int) -> None:
            bar.update(done - sent[0])
            sent[0] = done

        uid = client.upload_model(data, metadata, progress=progress)
    click.echo(uid)


@contextlib.contextmanager
def _mapped(file: Path) -> Iterator[mmap.mmap]:
    """The file's bytes, mapped rather than read: the pages come and go as the upload
    hashes and sends them, so a big file does not have to fit in memory. A device or a
    pipe (/dev/zero, say) has no size to upload: it is refused."""
    if not file.is_file():
        raise click.ClickException(f"{file} is not a regular file")
    with open(file, "rb") as stream:
        if os.fstat(stream.fileno()).st_size == 0:
            raise click.ClickException(f"{file} is empty")
        data = mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            yield data
        finally:
            try:
                data.close()
            except BufferError:  # an error's traceback still holds a view: unmapped with it
                pass


@model.command(name="list")
@connects
def list_models(client: ModelManagerClient) -> None:
    """List stored models."""
    infos = client.get_models_info()
    rows = [(i.uid[:12], i.metadata.name, i.metadata.version, "yes" if i.loaded else "no",
             ", ".join(f"{s.name}: {describe(s)}" for s in i.input_specs)) for i in infos]
    _table(("UID", "NAME", "VERSION", "LOADED", "INPUTS"), rows)
    if not rows:
        click.echo("(no models)", err=True)


@model.command()
@click.argument("uid")
@connects
def info(client: ModelManagerClient, uid: str) -> None:
    """Show a model's metadata and tensor specs (dynamic dims by name)."""
    item = client.get_model_metadata(_resolve(client, uid))
    meta = item.metadata
    for key, value in (("uid", item.uid), ("name", meta.name), ("version", meta.version),
                       ("description", meta.description), ("author", meta.author),
                       ("loaded", "yes" if item.loaded else "no")):
        click.echo(f"{key + ':':13s}{value}")
    rows = [(kind, s.name, s.dtype, _shape(s)) for kind, specs in
            (("input", item.input_specs), ("output", item.output_specs)) for s in specs]
    click.echo()
    _table(("", "NAME", "DTYPE", "SHAPE"), rows)


@model.command()
@click.argument("uids", nargs=-1, required=True)
@click.option("--max-batch-size", type=int, default=None, help="enable dynamic batching")
@click.option("--max-queue-delay-us", type=int, default=None)
@click.option("--instances", "instance_count", type=int, default=None)
@click.option("--min-workers", type=int, default=None, help="runs at once, scaling with the queue")
@click.option("--max-workers", type=int, default=None)
@connects
def load(client: ModelManagerClient, uids: tuple[str, ...], **config) -> None:
    """Load models so they serve requests."""
    full = [_resolve(client, uid) for uid in uids]
    given = {k: v for k, v in config.items() if v is not None}
    client.load_models(full, given or None)
    click.echo(f"loaded {len(full)} model(s)")


@model.command()
@click.argument("uids", nargs=-1, required=True)
@connects
def unload(client: ModelManagerClient, uids: tuple[str, ...]) -> None:
    """Unload models (they stay stored)."""
    full = [_resolve(client, uid) for uid in uids]
    client.unload_models(full)
    click.echo(f"unloaded {len(full)} model(s)")


@model.command()
@click.argument("uid")
@connects
def delete(client: ModelManagerClient, uid: str) -> None:
    """Unload a model and remove it from the repository."""
    full = _resolve(client, uid)
    client.delete_model(full)
    click.echo(f"deleted {full}")


@model.command()
@click.argument("uid")
@click.option("--input", "-i", "inputs", multiple=True, metavar="NAME=FILE.npy",
              help="an input tensor (repeat for each input)")
@click.option("--output-dir", "-o", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="write each output to DIR/NAME.npy")
@click.option("--priority", type=int, default=0, show_default=True,
              help="1 runs first; 0 is the model's default level")
@connects
def infer(client: ModelManagerClient, uid: str, inputs: tuple[str, ...],
          output_dir: Path | None, priority: int) -> None:
    """Run a loaded model once on .npy inputs."""
    feeds = dict(_read_input(text) for text in inputs)
    outputs = client.forward(_resolve(client, uid), feeds, priority=priority)
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
    for name, array in outputs.items():
        line = f"{name}: {array.dtype} {list(array.shape)}"
        if array.size and array.dtype.kind in "biuf":
            line += f" min {array.min():.6g} max {array.max():.6g} mean {array.mean():.6g}"
        if output_dir is not None:
            path = output_dir / f"{_file_name(name)}.npy"
            np.save(path, array)
            line += f" -> {path}"
        click.echo(line)


@model.command()
@click.argument("uids", nargs=-1)
@connects
def stats(client: ModelManagerClient, uids: tuple[str, ...]) -> None:
    """Inference statistics per model."""
    wanted = [_resolve(client, uid) for uid in uids] or None
    rows = []
    for s in client.get_inference_statistics(wanted):
        runs = s["execution_count"]
        done = s["success_count"] + s["failure_count"]
        rows.append((s["uid"][:12], s["success_count"], s["failure_count"], runs,
                     f"{s['inference_count'] / runs:.2f}" if runs else "-",
                     f"{s['queue_ns'] / max(1, done) / 1e6:.2f}",
                     f"{s['compute_infer_ns'] / max(1, runs) / 1e6:.2f}"))
    _table(("UID", "OK", "FAILED", "RUNS", "MEAN BATCH", "QUEUE MS", "INFER MS"), rows)


def _resolve(client: ModelManagerClient, ref: str) -> str:
    """A full uid from a uid, a name (its newest version), NAME:VERSION, or a unique uid
    prefix like git's short hashes."""
    if len(ref) == 64:
        return ref
    names = [(ref, None)]
    if ":" in ref:
        names.append(tuple(ref.rsplit(":", 1)))
    for name, version in names:
        try:
            return client.get_model_metadata(name, version).uid
        except NotFound:
            pass
    matches = [i.uid for i in client.get_models_info() if i.uid.startswith(ref.lower())]
    if len(matches) != 1:
        raise (NotFound if not matches else InvalidArgument)(
            f"{'no' if not matches else len(matches)} model(s) named {ref!r} or with that "
            "uid prefix")
    return matches[0]


def _read_input(text: str) -> tuple[str, np.ndarray]:
    name, sep, path = text.partition("=")
    if not sep or not name:
        raise click.BadParameter(f"expected NAME=FILE.npy, got {text!r}", param_hint="--input")
    try:
        return name, np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise click.BadParameter(f"{path}: {exc}", param_hint="--input") from None


def _shape(spec: TensorSpec) -> str:
    return "[...]" if spec.shape is None else spec.shape_text()


def _file_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name).lstrip(".") or "output"


def _table(header: tuple, rows: list) -> None:
    cells = [tuple(str(c) for c in row) for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())


def _register_regress() -> None:
    from nodes.model_runner.regress import regress_command  # model_runner's, shown under `model`

    model.add_command(regress_command)


_register_regress()
