"""ETL: read product, user and interaction sources, validate, quarantine bad rows, load the graph.

One function per source kind, each returning an ``IngestReport``::

    from kgrec.kg import open_backend
    from kgrec.etl import ingest_recbole
    with open_backend("kgrec.db") as kg:
        kg.init_schema()
        report = ingest_recbole(kg, dataset="ml-100k", quarantine="bad-rows.jsonl")
        print(report.summary())
"""

from kgrec.etl.entity_linking import EntityLinkReport, link_by_title
from kgrec.etl.image_sources import ingest_idx, ingest_image_folder
from kgrec.etl.products10k import ingest_products10k
from kgrec.etl.recbole import ingest_recbole, link_recbole
from kgrec.etl.report import IngestRejected, IngestReport
from kgrec.etl.table import ingest_table
from kgrec.etl.taobao import ingest_taobao

__all__ = [
    "EntityLinkReport", "IngestRejected", "IngestReport", "ingest_idx", "ingest_image_folder", "ingest_products10k",
    "ingest_recbole", "ingest_table", "ingest_taobao", "link_by_title", "link_recbole",
]
