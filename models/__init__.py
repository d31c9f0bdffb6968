"""GrooVAE in PyTorch: the groove representation, data pipeline, model, training and generation."""
