"""Stage `vit`: the Vision Transformer, the second judge."""
