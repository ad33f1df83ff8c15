"""What every stylization method shares: cameras around the head, rendering a textured
mesh, laying images back onto its texture, and the yardsticks every result is measured
by (the judge on held-out views, the consistency arc, the unstylized baseline). It imports
no method; the methods, the fast path and the style stage import it."""
