"""pg_mergetree benchmark suite: heap and mergetree side by side (see benches/README.md)."""
