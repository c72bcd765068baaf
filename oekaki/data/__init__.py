"""Where images come from: data sources and their fingerprints, the IDX reader."""
