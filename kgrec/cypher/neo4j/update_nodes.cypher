// Batched property update of existing nodes, keyed by id; a null value removes the property.
// Rows whose id is not in the graph are skipped, as on the embedded backend.
UNWIND $rows AS row MATCH (n:{{label}} {id: row.id}) SET n += row
