"""The corpus pipeline: public/QorSync/Label Studio sources, Spark unification, splits, statistics."""
