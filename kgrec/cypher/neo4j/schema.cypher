// Schema of the kgrec knowledge graph for Neo4j 5: uniqueness constraints (which also index
// the id property) for every label of kgrec/cypher/ladybug/schema.cypher, and indexes on the
// relationship properties that queries filter on. Idempotent (IF NOT EXISTS).
CREATE CONSTRAINT kgrec_meta_key IF NOT EXISTS FOR (n:Meta) REQUIRE n.key IS UNIQUE;
CREATE CONSTRAINT kgrec_user_id IF NOT EXISTS FOR (n:User) REQUIRE n.id IS UNIQUE;
CREATE CONSTRAINT kgrec_product_id IF NOT EXISTS FOR (n:Product) REQUIRE n.id IS UNIQUE;
CREATE CONSTRAINT kgrec_category_id IF NOT EXISTS FOR (n:Category) REQUIRE n.id IS UNIQUE;
CREATE CONSTRAINT kgrec_brand_id IF NOT EXISTS FOR (n:Brand) REQUIRE n.id IS UNIQUE;
CREATE CONSTRAINT kgrec_shop_id IF NOT EXISTS FOR (n:Shop) REQUIRE n.id IS UNIQUE;
CREATE CONSTRAINT kgrec_tag_id IF NOT EXISTS FOR (n:Tag) REQUIRE n.id IS UNIQUE;
CREATE CONSTRAINT kgrec_entity_id IF NOT EXISTS FOR (n:Entity) REQUIRE n.id IS UNIQUE;
CREATE INDEX kgrec_interacted_timestamp IF NOT EXISTS FOR ()-[r:INTERACTED]-() ON (r.timestamp);
CREATE INDEX kgrec_related_to_relation IF NOT EXISTS FOR ()-[r:RELATED_TO]-() ON (r.relation);
