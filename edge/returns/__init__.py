"""Returns and exchanges: a return is its own document linked to the original order and lines
(`rules` the pure policy, `commands` the decisions and writer commands, `projection`,
`views`, `routes`, `settings`, `customers` the keyed hash of a customer identifier)."""
