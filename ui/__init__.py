"""Gradio interface. Calls ``vc_core``; never touches tensors itself."""
