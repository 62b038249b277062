// Write one metadata value by key (created when missing).
MERGE (m:Meta {key: $key}) SET m.value = $value
