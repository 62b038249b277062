// Schema migration 1 -> 2: the ingest sequence column on INTERACTED (existing rows get null
// until fill_interaction_seq numbers them). Idempotent.
ALTER TABLE INTERACTED ADD IF NOT EXISTS seq INT64
