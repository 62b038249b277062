// Online vector indexes with their label, property and similarity function (used by `kgctl similar`).
SHOW VECTOR INDEXES YIELD name, labelsOrTypes, properties, state, options
WHERE state = 'ONLINE'
RETURN name, labelsOrTypes AS labels, properties, options.indexConfig.`vector.similarity_function` AS similarity
