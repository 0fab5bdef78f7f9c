"""The encoder that fits: initialisation (matching pursuit), losses, least squares, Adam with
add/prune, quantization-aware fine-tuning. torch lives here; it imports the codec, never the
other way round."""
