"""Networks and their sampling, one model per file, each built from its own args; `loading` rebuilds any of them from a checkpoint."""
