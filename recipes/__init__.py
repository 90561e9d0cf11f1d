"""Training recipes, one per family, each a short script over `zoo.train` (run `zoo train NAME`)."""
