// Schema of the kgrec knowledge graph for the embedded LadybugDB backend.
// kgrec/kg/schema.py parses this file: it is the single source of truth for labels,
// properties, relationship endpoints and types. Bump SCHEMA_VERSION in schema.py on change and add
// the step that upgrades an existing database to kgrec/kg/migrate.py.
// INTERACTED.seq: the ingest order (source row order; a later ingest numbers after the graph's
// largest), which orders interactions of one user with equal timestamps (kgrec/kg/interaction_order.py).
CREATE NODE TABLE IF NOT EXISTS Meta(key STRING PRIMARY KEY, value STRING);
CREATE NODE TABLE IF NOT EXISTS User(id STRING PRIMARY KEY, name STRING, age INT64, gender STRING, occupation STRING, zip STRING, extra STRING);
CREATE NODE TABLE IF NOT EXISTS Product(id STRING PRIMARY KEY, title STRING, description STRING, year INT64, price DOUBLE, category_path STRING, source STRING, image_ref STRING, image_hash STRING, text_hash STRING, text_emb FLOAT[], text_emb_model STRING, image_emb FLOAT[], image_emb_model STRING, image_emb_hash STRING, extra STRING);
CREATE NODE TABLE IF NOT EXISTS Category(id STRING PRIMARY KEY, name STRING, level INT64);
CREATE NODE TABLE IF NOT EXISTS Brand(id STRING PRIMARY KEY, name STRING);
CREATE NODE TABLE IF NOT EXISTS Shop(id STRING PRIMARY KEY, name STRING);
CREATE NODE TABLE IF NOT EXISTS Tag(id STRING PRIMARY KEY, name STRING);
CREATE NODE TABLE IF NOT EXISTS Entity(id STRING PRIMARY KEY, name STRING);
CREATE REL TABLE IF NOT EXISTS INTERACTED(FROM User TO Product, timestamp INT64, rating DOUBLE, behavior STRING, seq INT64);
CREATE REL TABLE IF NOT EXISTS IN_CATEGORY(FROM Product TO Category);
CREATE REL TABLE IF NOT EXISTS HAS_BRAND(FROM Product TO Brand);
CREATE REL TABLE IF NOT EXISTS SOLD_BY(FROM Product TO Shop);
CREATE REL TABLE IF NOT EXISTS HAS_TAG(FROM Product TO Tag);
CREATE REL TABLE IF NOT EXISTS SUBCATEGORY_OF(FROM Category TO Category);
CREATE REL TABLE IF NOT EXISTS LINKED_TO(FROM Product TO Entity);
CREATE REL TABLE IF NOT EXISTS RELATED_TO(FROM Entity TO Entity, relation STRING);
