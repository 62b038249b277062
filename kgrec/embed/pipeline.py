"""``embed_products``: encode the products whose text or image changed and write the vectors back.

Incremental by content hash: ``Product.text_hash`` is the hash of the built text plus the model
record, ``Product.image_emb_hash`` the hash of the image bytes plus the model record. A product is
encoded only when that hash (so its content, or the model) differs from the stored one; a second
run over unchanged data encodes nothing. Rows are written back every ``write_every`` products, so an
interrupted run resumes where it stopped. Writes run on a background thread while the next batch
is encoded, and image decoding is prefetched one batch ahead.

A pass that writes vectors publishes a new graph revision when its last write has succeeded
(``kgrec.kg.revision``, the protocol ingest follows), so the snapshot id moves: a running server
reloads the embeddings and ``kgctl evaluate`` refuses a checkpoint trained before them. A pass that
writes nothing leaves the revision alone (unless a killed earlier write left one to publish).
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import torch

from kgrec.embed.image import DEFAULT_HEAD, DEFAULT_IMAGE_MODEL, DEFAULT_IMAGE_SIZE, ImageEncoder
from kgrec.embed.text import DEFAULT_TEXT_TEMPLATE, TextEncoder, build_text, check_template
from kgrec.errors import KgrecError
from kgrec.etl import images as image_refs
from kgrec.kg import revision
from kgrec.kg.backend import Backend

DEFAULT_BATCH_SIZE = 64
DEFAULT_SEED = 0


@dataclass
class EmbedReport:
    """What one ``embed_products`` pass over one modality did."""

    kind: str  # "text" or "image"
    model: str  # the model record written to text_emb_model / image_emb_model
    dim: int
    products: int = 0  # Product nodes seen
    encoded: int = 0
    unchanged: int = 0
    no_input: int = 0  # no text fields / no image_ref
    deferred: int = 0  # left for a later run by --limit
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (product id, why) for unreadable images
    seconds: float = 0.0  # wall clock of the whole pass: read, hash, decode, encode, write
    model_seconds: float = 0.0  # wall clock spent inside the model forward
    revision: str | None = None  # the graph revision this pass published; None: it changed nothing

    @property
    def rate(self) -> float:
        return self.encoded / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        if self.encoded == 0 and not self.skipped and not self.deferred:
            head = f"{self.kind}: nothing to encode, all {self.unchanged:,} products with {self.kind} are up to date"
        else:
            head = (
                f"{self.kind}: encoded {self.encoded:,} of {self.products:,} products "
                f"({self.unchanged:,} unchanged) in {self.seconds:.1f} s ({self.rate:.0f}/s)"
            )
        notes = [f"{self.dim}-d"]
        if self.no_input:
            notes.append(f"{self.no_input:,} without {'text' if self.kind == 'text' else 'an image'}")
        if self.deferred:
            notes.append(f"{self.deferred:,} left for the next run (--limit)")
        if self.skipped:
            notes.append(f"{len(self.skipped):,} unreadable images skipped")
        if self.revision is not None:
            notes.append(f"graph revision {self.revision}")
        return f"{head}; {', '.join(notes)}"


def _sha(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


def _vectors(matrix: np.ndarray) -> pa.Array:
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(matrix.ravel()), matrix.shape[1])


class _Writer:
    """Writes finished rows on one background thread; ``flush`` waits and re-raises its errors.
    The first write marks a graph revision pending; ``publish`` (after ``close``, once every write
    succeeded) makes it the graph's revision."""

    def __init__(self, backend: Backend):
        self.backend = backend
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kgrec-embed-write")
        self.pending: list[Future] = []
        self.target: str | None = None  # the revision this pass will publish, once it writes

    def submit(self, table: pa.Table, max_pending: int = 2) -> None:
        if self.target is None:
            self.target = revision.begin_write(self.backend)
        while self.pending and (self.pending[0].done() or len(self.pending) >= max_pending):
            self.pending.pop(0).result()  # re-raises a failed write; bounds memory when writes lag
        self.pending.append(self.pool.submit(self.backend.update_nodes, "Product", table))

    def flush(self) -> None:
        for future in self.pending:
            future.result()
        self.pending = []

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.pool.shutdown(wait=True)

    def publish(self) -> str | None:
        """Publish the revision of this pass's writes (or one a killed earlier write left pending);
        None when there is nothing to publish."""
        target = self.target or revision.pending_revision(self.backend)
        if not target:
            return None
        revision.publish(self.backend, target)
        return target


def _progress(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="product", file=sys.stderr, disable=not enabled or total == 0, leave=False)


# --------------------------------------------------------------------------- text
def product_texts(backend: Backend, template: str = DEFAULT_TEXT_TEMPLATE) -> pa.Table:
    """``id``, the built ``text``, and the stored ``text_hash`` / ``text_emb_model`` of every product."""
    check_template(template)
    nodes = backend.export_nodes(
        "Product", ["title", "description", "category_path", "year", "text_hash", "text_emb_model"]
    )
    brands = _brand_names(backend) if "{brand" in template else {}
    # Built from Python values, not pandas: a missing field must stay None (never "nan"), a year an int.
    rows = sorted(nodes.to_pylist(), key=lambda r: r["id"])
    return pa.table(
        {
            "id": pa.array([r["id"] for r in rows], pa.string()),
            "text": pa.array([build_text({**r, "brand": brands.get(r["id"])}, template) for r in rows], pa.string()),
            "text_hash": pa.array([r["text_hash"] for r in rows], pa.string()),
            "text_emb_model": pa.array([r["text_emb_model"] for r in rows], pa.string()),
        }
    )


def _brand_names(backend: Backend) -> dict[str, str]:
    links = backend.export_relationships("HAS_BRAND").to_pandas()
    if links.empty:
        return {}
    names = backend.export_nodes("Brand", ["name"]).to_pandas()
    names["name"] = names["name"].fillna(names["id"])
    links = links.merge(names, left_on="dst", right_on="id", how="left").sort_values(["src", "name"])
    return links.groupby("src")["name"].agg(lambda s: ", ".join(str(v) for v in s if v is not None)).to_dict()


def embed_texts(
    backend: Backend,
    encoder: TextEncoder,
    *,
    template: str = DEFAULT_TEXT_TEMPLATE,
    batch_size: int = DEFAULT_BATCH_SIZE,
    limit: int | None = None,
    write_every: int = 512,
    progress: bool = True,
) -> EmbedReport:
    """Encode the products whose built text (or the model) changed and write ``text_emb``."""
    started = time.perf_counter()
    table = product_texts(backend, template).to_pandas()
    record = encoder.record
    report = EmbedReport("text", record, encoder.dim, products=len(table))
    has_text = table["text"].str.len() > 0
    report.no_input = int((~has_text).sum())
    table = table[has_text].copy()
    table["new_hash"] = [_sha(record, t) for t in table["text"]]
    todo = table[(table["new_hash"] != table["text_hash"]) | (table["text_emb_model"] != record)]
    report.unchanged = len(table) - len(todo)
    if limit is not None and len(todo) > limit:
        report.deferred = len(todo) - limit
        todo = todo.iloc[:limit]
    writer = _Writer(backend)
    try:
        with _progress(len(todo), "embed text", progress) as bar:
            for start in range(0, len(todo), write_every):
                chunk = todo.iloc[start : start + write_every]
                forward = time.perf_counter()
                vectors = encoder.encode(chunk["text"].tolist(), batch_size=batch_size)
                report.model_seconds += time.perf_counter() - forward
                writer.submit(
                    pa.table(
                        {
                            "id": pa.array(chunk["id"].tolist(), pa.string()),
                            "text_emb": _vectors(vectors),
                            "text_emb_model": pa.array([record] * len(chunk), pa.string()),
                            "text_hash": pa.array(chunk["new_hash"].tolist(), pa.string()),
                        }
                    )
                )
                report.encoded += len(chunk)
                bar.update(len(chunk))
    finally:
        writer.close()
    report.revision = writer.publish()
    report.seconds = time.perf_counter() - started
    return report


# --------------------------------------------------------------------------- images
def _prepared_batches(
    items: Sequence[tuple[str, str, str]], encoder: ImageEncoder, batch_size: int, skipped: list
) -> Iterator[tuple[int, list[tuple[str, str]], torch.Tensor | None]]:
    """Decode and resize one batch ahead on a helper thread. Yields (size, [(id, hash)], input batch)."""

    def prepare(batch):
        ok, arrays = [], []
        for pid, ref, digest in batch:
            try:
                arrays.append(encoder.preprocess(image_refs.load_image(ref)))
                ok.append((pid, digest))
            except Exception as exc:  # noqa: BLE001 - one bad image (decompression bomb, truncated file ...) is never fatal
                skipped.append((pid, str(exc) or type(exc).__name__))
        return len(batch), ok, (encoder.to_batch(arrays) if arrays else None)

    batches = [items[i : i + batch_size] for i in range(0, len(items), batch_size)]
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kgrec-embed-read") as pool:
        future = pool.submit(prepare, batches[0]) if batches else None
        for i in range(len(batches)):
            assert future is not None  # submitted for every batch
            current = future.result()
            future = pool.submit(prepare, batches[i + 1]) if i + 1 < len(batches) else None
            yield current


def embed_images(
    backend: Backend,
    encoder: ImageEncoder,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    limit: int | None = None,
    write_every: int = 512,
    progress: bool = True,
) -> EmbedReport:
    """Encode the products whose image bytes (or the model) changed and write ``image_emb``.

    An image that cannot be read or decoded is reported in ``EmbedReport.skipped`` and left out.
    """
    started = time.perf_counter()
    nodes = backend.export_nodes("Product", ["image_ref", "image_emb_hash", "image_emb_model"]).to_pandas()
    nodes = nodes.sort_values("id", kind="stable")
    record = encoder.record
    report = EmbedReport("image", record, encoder.dim, products=len(nodes))
    has_ref = nodes["image_ref"].notna() & (nodes["image_ref"].str.len() > 0)
    report.no_input = int((~has_ref).sum())
    todo: list[tuple[str, str, str]] = []
    for pid, ref, stored_hash, stored_model in nodes[has_ref].itertuples(index=False, name=None):
        try:
            digest = _sha(record, image_refs.content_hash(ref))
        except (image_refs.ImageError, OSError) as exc:
            report.skipped.append((pid, str(exc)))
            continue
        if digest == stored_hash and stored_model == record:
            report.unchanged += 1
        else:
            todo.append((pid, ref, digest))
    if limit is not None and len(todo) > limit:
        report.deferred = len(todo) - limit
        todo = todo[:limit]

    writer = _Writer(backend)
    done_ids: list[str] = []
    done_hashes: list[str] = []
    done_vectors: list[np.ndarray] = []

    def flush_rows() -> None:
        if not done_ids:
            return
        writer.submit(
            pa.table(
                {
                    "id": pa.array(done_ids, pa.string()),
                    "image_emb": _vectors(np.concatenate(done_vectors)),
                    "image_emb_model": pa.array([record] * len(done_ids), pa.string()),
                    "image_emb_hash": pa.array(done_hashes, pa.string()),
                }
            )
        )
        report.encoded += len(done_ids)
        done_ids.clear()
        done_hashes.clear()
        done_vectors.clear()

    try:
        with _progress(len(todo), "embed images", progress) as bar:
            for size, ok, batch in _prepared_batches(todo, encoder, batch_size, report.skipped):
                if batch is not None:
                    forward = time.perf_counter()
                    done_vectors.append(encoder.encode_batch(batch))
                    report.model_seconds += time.perf_counter() - forward
                    done_ids.extend(pid for pid, _ in ok)
                    done_hashes.extend(digest for _, digest in ok)
                if len(done_ids) >= write_every:
                    flush_rows()
                bar.update(size)
            flush_rows()
    finally:
        writer.close()
    report.revision = writer.publish()
    report.seconds = time.perf_counter() - started
    return report


# --------------------------------------------------------------------------- both
def embed_products(
    backend: Backend,
    *,
    text: bool = True,
    image: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    limit: int | None = None,
    text_model: str | None = None,
    text_template: str = DEFAULT_TEXT_TEMPLATE,
    image_model: str = DEFAULT_IMAGE_MODEL,
    image_weights: str | None = None,
    image_size: int = DEFAULT_IMAGE_SIZE,
    image_head: str = DEFAULT_HEAD,
    text_encoder: TextEncoder | None = None,
    image_encoder: ImageEncoder | None = None,
    seed: int = DEFAULT_SEED,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> list[EmbedReport]:
    """Embed product texts and/or images incrementally; returns one report per modality.

    Models run in eval mode under a fixed seed, so the same data and model give the same vectors.
    Pass ready ``text_encoder`` / ``image_encoder`` objects to reuse loaded models.
    """
    if not (text or image):
        raise KgrecError("nothing to embed", "choose --text and/or --image")
    if batch_size < 1:
        raise KgrecError(f"batch size must be positive, got {batch_size}")
    if limit is not None and limit < 0:
        raise KgrecError(f"limit must not be negative, got {limit}")
    backend.ensure_schema()
    torch.manual_seed(seed)
    np.random.seed(seed)
    reports = []
    if text:
        check_template(text_template)
        encoder = text_encoder or TextEncoder(text_model)
        reports.append(embed_texts(backend, encoder, template=text_template, batch_size=batch_size, limit=limit,
                                   progress=progress))
        if log:
            log(reports[-1].summary())
    if image:
        image_enc = image_encoder or ImageEncoder(image_model, image_weights, image_size, image_head)
        reports.append(embed_images(backend, image_enc, batch_size=batch_size, limit=limit, progress=progress))
        if log:
            log(reports[-1].summary())
    return reports
