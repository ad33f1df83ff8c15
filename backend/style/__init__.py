"""Style: VGG19 features, style and content losses, style images."""
