"""VideoComposer Studio engine: models, conditions, sampling and the generation pipeline.

Nothing in this package imports Gradio; the UI lives in ``ui/``.
"""
