"""ArcFace fine-tuning on LFW identities, evaluation and ablations."""
