"""Continuous learning: from corrections in the PMG to a training set for the next LoRA adapter."""
