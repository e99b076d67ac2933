"""VideoComposer Studio: start the Gradio app.

    python app.py [--weights DIR] [--precision auto|fp32|bf16|fp16] [--offload] [--host 127.0.0.1] [--port 7860] [--share]
"""
from __future__ import annotations

import argparse
import logging
import os

from vc_core.pipeline import PRECISIONS, load_pipeline


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    on_spaces = bool(os.environ.get("SPACE_ID"))
    p = argparse.ArgumentParser(description="VideoComposer Studio")
    p.add_argument("--weights", default=os.environ.get("VC_WEIGHTS_DIR"), help="folder with the official weight files")
    p.add_argument(
        "--precision", choices=PRECISIONS, default=os.environ.get("VC_PRECISION", "auto"),
        help="sampling precision (auto: fp32 on CPU; on CUDA fp16 for the official model, fp32 for the small embedded one; bf16 is ~2x faster on a CPU with bf16 units for the official model)",
    )
    p.add_argument(
        "--offload", action="store_true", default=os.environ.get("VC_OFFLOAD", "") == "1",
        help="keep the models in CPU memory and move each to the GPU only while it runs (small GPUs; also VC_OFFLOAD=1)",
    )
    p.add_argument("--host", default="0.0.0.0" if on_spaces else "127.0.0.1", help="bind address (127.0.0.1 unless on a Space)")
    p.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    p.add_argument("--share", action="store_true", help="create a public gradio.live link (off by default)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    from ui.app import LAUNCH_OPTIONS, build_app

    loader = lambda name, weights: load_pipeline(name, weights, precision=args.precision, offload=args.offload)  # noqa: E731
    build_app(weights=args.weights, loader=loader).launch(
        server_name=args.host, server_port=args.port, share=args.share, **LAUNCH_OPTIONS
    )


if __name__ == "__main__":
    main()
