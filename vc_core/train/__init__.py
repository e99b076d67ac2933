"""Training recipe of the embedded model, one command per stage (each seeded and resumable):

    python -m vc_core.train.data        # render the synthetic world + codec motion vectors
    python -m vc_core.train.autoencoder # small KL autoencoder
    python -m vc_core.train.towers      # CLIP-architecture text/image towers (contrastive)
    python -m vc_core.train.denoiser --stage t2v       # text-to-video
    python -m vc_core.train.denoiser --stage compose   # + all conditions, official dropout scheme
    python -m vc_core.train.export      # safetensors + config into assets/embedded/

or all of them within a wall-clock budget: ``python -m vc_core.train.recipe --minutes 120``.
"""
