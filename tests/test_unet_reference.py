"""The UNet and its STC-encoder compute what the official UNetSD_temporal computes.

Every model is built from the manifest's constructor arguments and every input comes from the
golden file, so the same tests run on another reference set.
"""
import numpy as np
import pytest
import torch

from tests.reference import build_deterministic, load_golden, load_manifest, max_abs_diff
from vc_core.config import UNetConfig
from vc_core.models.attention import set_attention_backend
from vc_core.models.unet import UNet3D, timestep_embedding

pytestmark = pytest.mark.reference

SPATIAL = ["depth", "local_image", "motion", "sketch", "single_sketch", "masked"]
# (rtol, atol) from the reference README's tolerance table
TOL_OUT = (1e-4, 1e-4)
TOL_SMALL_AFTER = (1e-4, 5e-4)
TOL_FULL_AFTER = (1e-4, 1e-3)


@pytest.fixture(params=["math", "sdpa"])
def backend(request):
    set_attention_backend(request.param)
    yield request.param
    set_attention_backend("auto")


def build(manifest_name: str) -> UNet3D:
    m = load_manifest(manifest_name)
    return build_deterministic(lambda: UNet3D(UNetConfig.from_args(m["constructor_args"])), m["state_dict"])


def check(name, mine, ref, tol, report):
    report[name] = max_abs_diff(mine, ref)
    np.testing.assert_allclose(mine.detach().numpy(), ref, rtol=tol[0], atol=tol[1], err_msg=name)


def run_case(net: UNet3D, g: dict, case: str, kwargs: dict, after_tol, report):
    """Forward with hooks on the last encoder block and the middle block, then compare all keys
    of this case (``out_<case>`` and every ``dbg_<case>_*``) present in the golden."""
    seen = {}
    hooks = [
        net.input_blocks[-1].register_forward_hook(lambda m, i, o: seen.__setitem__("after_input_blocks", o)),
        net.middle_block.register_forward_hook(lambda m, i, o: seen.__setitem__("after_middle_block", o)),
    ]
    x, t = torch.from_numpy(g["in_x"]), torch.from_numpy(g["in_t"])
    with torch.no_grad():
        out = net(x, t, **kwargs)
        spatial = {k: v for k, v in kwargs.items() if k in SPATIAL}
        seen["concat"] = net.condition_features(**spatial)
        seen["e"] = net.time_embed(timestep_embedding(t, net.config.dim))
        if "image" in kwargs:
            seen["image_context"] = net.pre_image_condition(kwargs["image"])
        for k, v in spatial.items():
            seen[f"stc_{k}"] = net.condition_branch(k, v)
    for h in hooks:
        h.remove()
    check(f"out_{case}", out, g[f"out_{case}"], TOL_OUT, report)
    keys = [k for k in g if k.startswith(f"dbg_{case}_")]
    assert keys, f"no debug keys for {case}"
    for key in keys:
        what = key[len(f"dbg_{case}_"):]
        check(key, seen[what], g[key], after_tol if what.startswith("after_") else TOL_OUT, report)


def golden_inputs(g: dict, names) -> dict:
    return {k: torch.from_numpy(g[f"in_{k}"]) for k in names}


@pytest.fixture(scope="module")
def small():
    return build("unet_small_manifest.json"), load_golden("unet_small_golden.npz")


def test_small_unet_all_conditions(small, capsys, backend):
    net, g = small
    report = {}
    run_case(net, g, "all", golden_inputs(g, ["y", "image", *SPATIAL]), TOL_SMALL_AFTER, report)
    with capsys.disabled():
        print("\nunet_small all max|Δ|:", {k: f"{v:.1e}" for k, v in report.items()})


def test_small_unet_text_and_motion_only(small, backend):
    net, g = small
    run_case(net, g, "y_motion", golden_inputs(g, ["y", "motion"]), TOL_SMALL_AFTER, {})


def test_small_unet_is_deterministic_at_inference(small, backend):
    """No training-mode surprises: the official constructor leaves training=True and its condition
    dropout would randomly drop conditions; ours is in eval mode from construction on."""
    net, g = small
    assert not net.training
    kwargs = golden_inputs(g, ["y", "image", *SPATIAL])
    x, t = torch.from_numpy(g["in_x"]), torch.from_numpy(g["in_t"])
    with torch.no_grad():
        assert torch.equal(net(x, t, **kwargs), net(x, t, **kwargs))


def test_precomputed_features_equal_raw_conditions(small, backend):
    net, g = small
    x, t = torch.from_numpy(g["in_x"]), torch.from_numpy(g["in_t"])
    conds = golden_inputs(g, SPATIAL)
    text = golden_inputs(g, ["y", "image"])
    with torch.no_grad():
        a = net(x, t, **text, **conds)
        b = net(x, t, **text, features=net.condition_features(**conds))
    assert torch.equal(a, b)


def test_stc_input_size_pools_each_condition_frame_before_the_branch():
    """The embedded recipe's speed option: a 64² sketch with stc_input_size=32 gives exactly the
    features of its 2×2 mean fed to the same branch without the option; the default (official)
    runs the first conv at full size, which is a different function."""
    from dataclasses import replace

    from tests.tiny import TINY_UNET

    torch.manual_seed(0)
    pooled_net = UNet3D(replace(TINY_UNET, stc_input_size=32)).eval()
    full_net = UNet3D(TINY_UNET).eval()
    full_net.load_state_dict(pooled_net.state_dict())
    sketch = (torch.rand(1, 1, 3, 64, 64) > 0.8).float()
    mean = torch.nn.functional.avg_pool3d(sketch, (1, 2, 2))
    with torch.no_grad():
        pooled = pooled_net.condition_branch("sketch", sketch)
        assert torch.allclose(pooled, full_net.condition_branch("sketch", mean), atol=1e-6)
        assert not torch.allclose(pooled, full_net.condition_branch("sketch", sketch), atol=1e-3)
    with pytest.raises(ValueError, match="stc_input_size"):
        replace(TINY_UNET, stc_input_size=16)


def test_a_single_frame_is_an_image_that_only_the_spatial_layers_see():
    """Joint image-video training feeds single frames: the temporal layers must pass them
    through (as the official image mode does), while they still shape a video."""
    from vc_core.models.transformer import TemporalTransformer
    from tests.tiny import TINY_UNET

    torch.manual_seed(0)
    net = UNet3D(TINY_UNET).eval()
    temporal = [p for n, m in net.named_modules() if isinstance(m, TemporalTransformer) or n.endswith("temopral_conv") for p in m.parameters()]
    assert temporal
    image, video = torch.randn(2, 4, 1, 8, 8), torch.randn(1, 4, 3, 8, 8)
    t, y = torch.tensor([500, 900]), torch.randn(2, 77, TINY_UNET.context_dim)
    with torch.no_grad():
        before = net(image, t, y=y), net(video, t[:1], y=y[:1])
        for p in temporal:
            p.add_(torch.randn_like(p))
        after = net(image, t, y=y), net(video, t[:1], y=y[:1])
    assert torch.equal(before[0], after[0])
    assert not torch.allclose(before[1], after[1], atol=1e-3)


def test_wrong_latent_size_is_explained(small):
    net, g = small
    x = torch.zeros(1, 4, g["in_x"].shape[2], 16, 16)
    with pytest.raises(ValueError, match="latents"):
        net(x, torch.from_numpy(g["in_t"]), y=torch.from_numpy(g["in_y"]), motion=torch.from_numpy(g["in_motion"]))


@pytest.mark.slow
def test_full_unet(capsys):
    """Checked once, with the default CPU attention backend (SDPA): ~1 min, ~7 GB."""
    net = build("unet_manifest.json")
    m = load_manifest("unet_manifest.json")
    assert net.num_parameters() == m["n_parameters"]
    g = load_golden("unet_full_golden.npz")
    report = {}
    run_case(net, g, "all", golden_inputs(g, ["y", "image", *SPATIAL]), TOL_FULL_AFTER, report)
    run_case(net, g, "y_motion", golden_inputs(g, ["y", "motion"]), TOL_FULL_AFTER, report)
    with capsys.disabled():
        print("\nunet_full max|Δ|:", {k: f"{v:.1e}" for k, v in report.items()})
