// Read one metadata value (schema version, graph revision) by key.
MATCH (m:Meta {key: $key}) RETURN m.value AS value
