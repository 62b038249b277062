"""A self-contained HTML page showing user-product paths as an interactive graph (vis-network,
vendored under ``kgrec/serve/static`` with its licence) plus the paths as a table."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

STATIC = Path(__file__).resolve().parent / "static"
COLOURS = {
    "User": "#4e79a7", "Product": "#f28e2b", "Category": "#59a14f", "Brand": "#76b7b2", "Shop": "#edc948",
    "Tag": "#b07aa1", "Entity": "#9c755f",
}


def vis_data(graph: dict[str, Any]) -> dict[str, list]:
    """Nodes and edges in vis-network's format."""
    nodes = [
        {
            "id": n["key"], "label": str(n["name"])[:40], "title": f"{n['label']} {n['id']}", "group": n["label"],
            "color": COLOURS.get(n["label"], "#bab0ac"),
        }
        for n in graph["nodes"]
    ]
    edges = [
        {"from": e["from"], "to": e["to"], "label": e["label"], "arrows": "to" if e["type"] != "RELATED_TO" else ""}
        for e in graph["edges"]
    ]
    return {"nodes": nodes, "edges": edges}


def render_paths_page(result: dict[str, Any]) -> str:
    """The page for ``kgctl paths --html``: opens offline (the library is inlined)."""
    library = (STATIC / "vis-network.min.js").read_text(encoding="utf-8")
    data = json.dumps(vis_data(result["graph"])).replace("</", "<\\/")
    rows = "".join(
        f"<tr><td>{p['hops']}</td><td>{html.escape(p['pattern'])}</td><td>{html.escape(p['text'])}</td></tr>"
        for p in result["paths"]
    )
    title = f"Paths from user {result['user']} to {result['product']['title'] or result['product']['id']}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:1em}}#graph{{height:600px;border:1px solid #ccc}}
table{{border-collapse:collapse;margin-top:1em}}td,th{{border:1px solid #ddd;padding:3px 8px;text-align:left}}</style>
<script>{library}</script></head>
<body><h1>{html.escape(title)}</h1>
<p>{len(result['paths'])} path(s), at most {result['max_hops']} hops. Drag nodes, scroll to zoom, hover for ids.</p>
<div id="graph"></div>
<table><thead><tr><th>hops</th><th>pattern</th><th>path</th></tr></thead><tbody>{rows}</tbody></table>
<script>
const data = {data};
const network = new vis.Network(document.getElementById("graph"),
  {{nodes: new vis.DataSet(data.nodes), edges: new vis.DataSet(data.edges)}},
  {{physics: {{stabilization: {{iterations: 200}}}}, edges: {{font: {{size: 10}}, smooth: false}},
    nodes: {{shape: "dot", size: 12}}}});
window.kgrecNetwork = network;
</script></body></html>
"""
