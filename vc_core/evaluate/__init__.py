"""Measurements of generated videos: motion adherence, text, image, inpainting and consistency."""
