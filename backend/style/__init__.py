"""Style: style images, style and content losses, the style encoder, the judge."""
