"""Generators and discriminators, key-for-key compatible with junyanz/pytorch-CycleGAN-and-pix2pix.

Module structure (and therefore state_dict keys) mirrors the reference implementation, so its
published checkpoints load with strict key matching. Names and signatures (`define_G`, `define_D`)
are the ones its users know.
"""
from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _NormBase
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm as with_spectral_norm

NORMS = ("batch", "instance", "none")
GENERATORS = ("unet_128", "unet_256", "unet_<N>", "resnet_6blocks", "resnet_9blocks", "resnet_<N>blocks")
DISCRIMINATORS = ("basic", "n_layers", "pixel")
UPSAMPLINGS = ("transpose", "nearest", "bilinear")
UNET_PADDINGS = ("zeros", "reflect")


def norm_layer_factory(norm: str):
    """Return a callable `channels -> nn.Module` for the norm name, and whether convs need a bias.

    As in the reference: BatchNorm is affine with running stats, InstanceNorm is neither, and convs
    carry a bias only before InstanceNorm (the reference's `use_bias` rule, also for `none`).
    """
    if norm == "batch":
        return (lambda c: nn.BatchNorm2d(c, affine=True, track_running_stats=True)), False
    if norm == "instance":
        return (lambda c: nn.InstanceNorm2d(c, affine=False, track_running_stats=False)), True
    if norm == "none":
        return (lambda c: nn.Identity()), False
    raise ValueError(f"unknown norm {norm!r}; choose one of {', '.join(NORMS)}")


def check_upsample(upsample: str) -> None:
    if upsample not in UPSAMPLINGS:
        raise ValueError(f"unknown upsample {upsample!r}; choose one of {', '.join(UPSAMPLINGS)}")


def resize_conv(in_nc: int, out_nc: int, mode: str, bias: bool = True, padding_mode: str = "zeros") -> nn.Sequential:
    """x2 upsampling by resize then 3x3 conv (Odena et al., "Deconvolution and Checkerboard Artifacts"):
    every output pixel sees the same number of input pixels, so no transposed-conv grid."""
    resize = nn.Upsample(scale_factor=2, mode=mode, align_corners=False if mode == "bilinear" else None)
    return nn.Sequential(resize, nn.Conv2d(in_nc, out_nc, kernel_size=3, padding=1, bias=bias,
                                           padding_mode=padding_mode))


class ResnetBlock(nn.Module):
    """Two 3x3 convs with a residual connection."""

    def __init__(self, dim: int, padding_type: str, make_norm, use_dropout: bool, use_bias: bool):
        super().__init__()
        layers: list[nn.Module] = []
        for second in (False, True):
            pad = 0
            if padding_type == "reflect":
                layers.append(nn.ReflectionPad2d(1))
            elif padding_type == "replicate":
                layers.append(nn.ReplicationPad2d(1))
            elif padding_type == "zero":
                pad = 1
            else:
                raise ValueError(f"unknown padding type {padding_type!r}")
            layers += [nn.Conv2d(dim, dim, kernel_size=3, padding=pad, bias=use_bias), make_norm(dim)]
            if not second:
                layers.append(nn.ReLU(True))
                if use_dropout:
                    layers.append(nn.Dropout(0.5))
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """c7s1-ngf, two stride-2 downsamplings, n residual blocks, two upsamplings, c7s1-output, tanh."""

    def __init__(self, input_nc, output_nc, ngf=64, norm="batch", use_dropout=False, n_blocks=6,
                 padding_type="reflect", upsample="transpose", tanh=True):
        super().__init__()
        check_upsample(upsample)
        make_norm, use_bias = norm_layer_factory(norm)
        model: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7, padding=0, bias=use_bias),
                                  make_norm(ngf), nn.ReLU(True)]
        n_down = 2
        for i in range(n_down):
            mult = 2 ** i
            model += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=use_bias),
                      make_norm(ngf * mult * 2), nn.ReLU(True)]
        mult = 2 ** n_down
        model += [ResnetBlock(ngf * mult, padding_type, make_norm, use_dropout, use_bias) for _ in range(n_blocks)]
        for i in range(n_down):
            mult = 2 ** (n_down - i)
            if upsample == "transpose":
                up = nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1,
                                        bias=use_bias)
            else:
                up = resize_conv(ngf * mult, ngf * mult // 2, upsample, bias=use_bias)
            model += [up,
                      make_norm(ngf * mult // 2), nn.ReLU(True)]
        model += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7, padding=0), nn.Tanh() if tanh else nn.Identity()]
        self.model = nn.Sequential(*model)
        self.size_multiple = 4
        self.min_side = 8   # ReflectionPad2d(1) of the residual blocks needs 2x2 at 1/4 resolution

    def forward(self, x):
        return self.model(x)


class UpConv(nn.ConvTranspose2d):
    """ConvTranspose2d that, on the CPU at small spatial sizes, runs as one GEMM plus col2im (F.fold).

    Same parameters and state_dict keys as nn.ConvTranspose2d; same result to float rounding. oneDNN's
    transposed convolution is slow on the U-Net's narrow, weight-heavy inner levels (1x1..8x8 inputs with
    512-1024 channels), where a single matrix product is 2-3x faster forward and backward.
    """

    gemm_max_pixels = 64

    def forward(self, x, output_size=None):
        if (x.device.type != "cpu" or output_size is not None or x.shape[-2] * x.shape[-1] > self.gemm_max_pixels
                or self.groups != 1 or self.dilation != (1, 1) or self.output_padding != (0, 0)):
            return super().forward(x, output_size)
        n, cin, h, w = x.shape
        kh, kw = self.kernel_size
        (sh, sw), (ph, pw) = self.stride, self.padding
        out_h, out_w = (h - 1) * sh - 2 * ph + kh, (w - 1) * sw - 2 * pw + kw
        columns = self.weight.reshape(cin, -1).t() @ x.reshape(n, cin, h * w)
        y = F.fold(columns, (out_h, out_w), kernel_size=(kh, kw), stride=(sh, sw), padding=(ph, pw))
        return y if self.bias is None else y + self.bias.view(1, -1, 1, 1)


class UnetSkipConnectionBlock(nn.Module):
    """One U-Net level: down conv, the inner submodule, up conv, and the skip concatenation."""

    def __init__(self, outer_nc, inner_nc, input_nc=None, submodule=None, outermost=False, innermost=False,
                 norm="batch", use_dropout=False, upsample="transpose", tanh=True, padding="zeros"):
        super().__init__()
        check_upsample(upsample)
        self.outermost = outermost
        make_norm, use_bias = norm_layer_factory(norm)

        def up_layer(in_nc, bias=use_bias):
            if upsample == "transpose":
                return UpConv(in_nc, outer_nc, kernel_size=4, stride=2, padding=1, bias=bias)
            return resize_conv(in_nc, outer_nc, upsample, bias=bias, padding_mode=padding)

        input_nc = outer_nc if input_nc is None else input_nc
        downconv = nn.Conv2d(input_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=use_bias,
                             padding_mode=padding)
        downrelu = nn.LeakyReLU(0.2, True)
        uprelu = nn.ReLU(True)
        if outermost:
            upconv = up_layer(inner_nc * 2, bias=True)
            model = [downconv, submodule, uprelu, upconv, nn.Tanh() if tanh else nn.Identity()]
        elif innermost:
            upconv = up_layer(inner_nc)
            model = [downrelu, downconv, uprelu, upconv, make_norm(outer_nc)]
        else:
            upconv = up_layer(inner_nc * 2)
            model = [downrelu, downconv, make_norm(inner_nc), submodule, uprelu, upconv, make_norm(outer_nc)]
            if use_dropout:
                model.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*model)

    def forward(self, x):
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    """U-Net with `num_downs` stride-2 levels; unet_256 has 8 (1x1 bottleneck at 256x256).

    padding "reflect" (with a resize-conv decoder) pads every conv by reflection instead of zeros: a map
    that is constant over the image, such as a broadcast noise input, then shows no border, where zero
    padding draws frames that the following layers echo inward as rings."""

    def __init__(self, input_nc, output_nc, num_downs, ngf=64, norm="batch", use_dropout=False,
                 upsample="transpose", tanh=True, padding="zeros"):
        super().__init__()
        if num_downs < 5:
            raise ValueError(f"a U-Net needs at least 5 downsamplings, got {num_downs}")
        if padding not in UNET_PADDINGS or (padding == "reflect" and upsample == "transpose"):
            raise ValueError(f"U-Net padding must be one of {', '.join(UNET_PADDINGS)} (reflect needs a resize-conv "
                             f"decoder), got {padding!r} with upsample {upsample!r}")
        level = dict(norm=norm, upsample=upsample, padding=padding)
        block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, innermost=True, **level)
        for _ in range(num_downs - 5):
            block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, submodule=block, use_dropout=use_dropout, **level)
        block = UnetSkipConnectionBlock(ngf * 4, ngf * 8, submodule=block, **level)
        block = UnetSkipConnectionBlock(ngf * 2, ngf * 4, submodule=block, **level)
        block = UnetSkipConnectionBlock(ngf, ngf * 2, submodule=block, **level)
        self.model = UnetSkipConnectionBlock(output_nc, ngf, input_nc=input_nc, submodule=block, outermost=True,
                                             tanh=tanh, **level)
        self.size_multiple = 2 ** num_downs

    def forward(self, x):
        return self.model(x)


class NLayerDiscriminator(nn.Module):
    """PatchGAN: n_layers stride-2 convs then two stride-1 convs; n_layers=3 is the 70x70 PatchGAN."""

    def __init__(self, input_nc, ndf=64, n_layers=3, norm="batch"):
        super().__init__()
        make_norm, use_bias = norm_layer_factory(norm)
        kw, padw = 4, 1
        seq: list[nn.Module] = [nn.Conv2d(input_nc, ndf, kw, stride=2, padding=padw), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2 ** n, 8)
            seq += [nn.Conv2d(ndf * prev, ndf * mult, kw, stride=2, padding=padw, bias=use_bias),
                    make_norm(ndf * mult), nn.LeakyReLU(0.2, True)]
        prev, mult = mult, min(2 ** n_layers, 8)
        seq += [nn.Conv2d(ndf * prev, ndf * mult, kw, stride=1, padding=padw, bias=use_bias),
                make_norm(ndf * mult), nn.LeakyReLU(0.2, True)]
        seq += [nn.Conv2d(ndf * mult, 1, kw, stride=1, padding=padw)]
        self.model = nn.Sequential(*seq)

    def forward(self, x):
        return self.model(x)

    def features(self, x) -> list[torch.Tensor]:
        """The activations after every LeakyReLU, then the patch predictions (for feature matching)."""
        return _activations(self.model, x)


class PixelDiscriminator(nn.Module):
    """1x1 PixelGAN: classifies every pixel on its own; can only judge color, not structure."""

    def __init__(self, input_nc, ndf=64, norm="batch"):
        super().__init__()
        make_norm, use_bias = norm_layer_factory(norm)
        self.net = nn.Sequential(
            nn.Conv2d(input_nc, ndf, 1, stride=1, padding=0), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, 1, stride=1, padding=0, bias=use_bias), make_norm(ndf * 2),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, 1, 1, stride=1, padding=0, bias=use_bias))

    def forward(self, x):
        return self.net(x)

    def features(self, x) -> list[torch.Tensor]:
        return _activations(self.net, x)


def _activations(sequence: nn.Sequential, x: torch.Tensor) -> list[torch.Tensor]:
    outputs = []
    for layer in sequence:
        x = layer(x)
        if isinstance(layer, nn.LeakyReLU):
            outputs.append(x)
    return outputs + [x]


def domain_one_hot(labels: torch.Tensor, n_domains: int) -> torch.Tensor:
    """(N,) domain indices -> (N, n_domains) float one-hot; (N, n_domains) weights pass through as float."""
    if labels.dim() == 1:
        return F.one_hot(labels.long(), n_domains).float()
    if labels.dim() != 2 or labels.shape[1] != n_domains:
        raise ValueError(f"expected (N,) domain indices or (N, {n_domains}) weights, got {tuple(labels.shape)}")
    return labels.float()


class ConditionalResnetGenerator(nn.Module):
    """StarGAN's G(x, c): a ResnetGenerator whose every normalization is followed by a per-domain scale and
    shift (conditional instance normalization, Dumoulin et al. 2017), so the target domain reaches every layer.

    The paper concatenates c, broadcast to maps, to the input instead. With this generator that cannot
    work: a reflection-padded conv turns a constant map into a constant response, which the instance norm
    right after it subtracts, so the label never reaches the output (the paper's zero padding lets it in
    at the borders only). `labels`: (N,) domain indices, or (N, n_domains) weights to blend domains.
    """

    shift_init_std = 1.0  # shifts start at the scale of the normalized features (Adam moves them ~lr a step)

    def __init__(self, net: ResnetGenerator, n_domains: int):
        super().__init__()
        if n_domains < 2:
            raise ValueError(f"a conditional generator needs at least 2 domains, got {n_domains}")
        self.norm_sizes = [m.num_features for m in net.modules() if isinstance(m, _NormBase)]
        if not self.norm_sizes:
            raise ValueError("a conditional generator needs normalization layers (norm instance or batch)")
        self.net = net
        self.n_domains = n_domains
        self.domain_scale = nn.Parameter(torch.zeros(n_domains, sum(self.norm_sizes)))  # init_weights skips both
        self.domain_shift = nn.Parameter(torch.randn(n_domains, sum(self.norm_sizes)) * self.shift_init_std)
        self.size_multiple = net.size_multiple
        self.min_side = net.min_side

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        one_hot = domain_one_hot(labels.to(x.device), self.n_domains)
        scales = (1 + one_hot @ self.domain_scale).split(self.norm_sizes, 1)
        shifts = (one_hot @ self.domain_shift).split(self.norm_sizes, 1)
        return self._run(self.net.model, x, iter(zip(scales, shifts)))

    def _run(self, layers: nn.Sequential, h: torch.Tensor, modulations) -> torch.Tensor:
        """The layers' forward (ResnetBlock: h + its conv_block), each norm's output modulated in turn."""
        for layer in layers:
            if isinstance(layer, ResnetBlock):
                h = h + self._run(layer.conv_block, h, modulations)
                continue
            h = layer(h)
            if isinstance(layer, _NormBase):
                scale, shift = next(modulations)
                h = h * scale.to(h.dtype)[:, :, None, None] + shift.to(h.dtype)[:, :, None, None]
        return h


def stargan_depth(crop_size: int) -> tuple[int, int]:
    """(stride-2 convs, side of their output) for StarGAN's D at `crop_size`: halve while the result
    keeps a side of at least 2 (128 -> 6 convs, 2x2, as the paper)."""
    if crop_size < 4:
        raise ValueError(f"the StarGAN discriminator needs crops of at least 4 px, got {crop_size}")
    layers, side = 0, crop_size
    while side // 2 >= 2:
        layers, side = layers + 1, side // 2
    return layers, side


class StarGANDiscriminator(nn.Module):
    """StarGAN's D: stride-2 4x4 convs with LeakyReLU(0.01), no norm, channels doubling from ndf (up to
    32 ndf), then two heads: a 3x3 conv to real/fake patches and a conv over the whole remaining map
    (kernel = its side at `crop_size`) to one logit per domain. forward -> (patches, (N, n_domains))."""

    def __init__(self, input_nc: int, n_domains: int, crop_size: int, ndf: int = 64):
        super().__init__()
        n_layers, side = stargan_depth(crop_size)
        layers: list[nn.Module] = []
        channels = input_nc
        for i in range(n_layers):
            out = ndf * min(2 ** i, 32)
            layers += [nn.Conv2d(channels, out, 4, stride=2, padding=1), nn.LeakyReLU(0.01, True)]
            channels = out
        self.main = nn.Sequential(*layers)
        self.src = nn.Conv2d(channels, 1, 3, stride=1, padding=1, bias=False)
        self.cls = nn.Conv2d(channels, n_domains, side, bias=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.main(x)
        return self.src(h), self.cls(h).mean((2, 3))  # larger inputs: the class map is averaged


def init_weights(net: nn.Module, init_type: str = "normal", init_gain: float = 0.02) -> nn.Module:
    """Initialize conv/linear weights (normal, xavier, kaiming, orthogonal) and BatchNorm as the reference."""
    def init_fn(m):
        name = type(m).__name__
        if hasattr(m, "weight") and ("Conv" in name or "Linear" in name):
            # a spectrally normalized layer computes `weight`; initialize the stored one
            weight = m.parametrizations.weight.original if parametrize.is_parametrized(m, "weight") else m.weight
            if init_type == "normal":
                nn.init.normal_(weight, 0.0, init_gain)
            elif init_type == "xavier":
                nn.init.xavier_normal_(weight, gain=init_gain)
            elif init_type == "kaiming":
                nn.init.kaiming_normal_(weight, a=0, mode="fan_in")
            elif init_type == "orthogonal":
                nn.init.orthogonal_(weight, gain=init_gain)
            else:
                raise ValueError(f"unknown init type {init_type!r}")
            if getattr(m, "bias", None) is not None:
                nn.init.constant_(m.bias, 0.0)
        elif "BatchNorm2d" in name:
            nn.init.normal_(m.weight, 1.0, init_gain)
            nn.init.constant_(m.bias, 0.0)
    net.apply(init_fn)
    return net


def define_G(input_nc: int, output_nc: int, ngf: int, netG: str, norm: str = "batch", use_dropout: bool = False,
             init_type: str = "normal", init_gain: float = 0.02, upsample: str = "transpose",
             tanh: bool = True, unet_padding: str = "zeros") -> nn.Module:
    """Build a generator by the reference's names: unet_128, unet_256, unet_<N>, resnet_6blocks, resnet_9blocks.

    `upsample` "transpose" is the reference's decoder (its checkpoints load key for key); "nearest" or
    "bilinear" resize then convolve, which avoids checkerboard artifacts (new keys). `tanh=False` leaves
    the last layer linear (features for a classification head). `unet_padding` "reflect": see UnetGenerator
    (ResNet generators pad by reflection already)."""
    if m := re.fullmatch(r"resnet_(\d+)blocks", netG):
        net = ResnetGenerator(input_nc, output_nc, ngf, norm=norm, use_dropout=use_dropout, n_blocks=int(m[1]),
                              upsample=upsample, tanh=tanh)
    elif m := re.fullmatch(r"unet_(\d+)", netG):
        n = int(m[1])
        num_downs = {128: 7, 256: 8}.get(n, n)
        if n not in (128, 256) and not 5 <= n <= 12:
            raise ValueError(f"unet_{n}: use unet_128, unet_256 or unet_<downsamplings 5..12>")
        net = UnetGenerator(input_nc, output_nc, num_downs, ngf, norm=norm, use_dropout=use_dropout,
                            upsample=upsample, tanh=tanh, padding=unet_padding)
    else:
        raise ValueError(f"unknown generator {netG!r}; choose one of {', '.join(GENERATORS)}")
    return init_weights(net, init_type, init_gain)


def define_D(input_nc: int, ndf: int, netD: str, n_layers_D: int = 3, norm: str = "batch",
             init_type: str = "normal", init_gain: float = 0.02, spectral_norm: bool = False) -> nn.Module:
    """Build a discriminator: basic (70x70 PatchGAN), n_layers (n_layers_D in 1..5) or pixel (1x1).

    `spectral_norm` constrains every conv to spectral norm 1 (Miyato et al.; new state_dict keys)."""
    if netD == "basic":
        net = NLayerDiscriminator(input_nc, ndf, n_layers=3, norm=norm)
    elif netD == "n_layers":
        if not 1 <= n_layers_D <= 5:
            raise ValueError(f"n_layers_D must be in 1..5 (receptive fields 16..286), got {n_layers_D}")
        net = NLayerDiscriminator(input_nc, ndf, n_layers=n_layers_D, norm=norm)
    elif netD == "pixel":
        net = PixelDiscriminator(input_nc, ndf, norm=norm)
    else:
        raise ValueError(f"unknown discriminator {netD!r}; choose one of {', '.join(DISCRIMINATORS)}")
    if spectral_norm:
        _spectrally_normalize(net)
    return init_weights(net, init_type, init_gain)


def _spectrally_normalize(net: nn.Module) -> None:
    for module in list(net.modules()):
        if isinstance(module, nn.Conv2d):
            with_spectral_norm(module)


def define_conditional_G(input_nc: int, output_nc: int, n_domains: int, ngf: int, netG: str = "resnet_6blocks",
                         norm: str = "instance", use_dropout: bool = False, init_type: str = "normal",
                         init_gain: float = 0.02, upsample: str = "transpose") -> ConditionalResnetGenerator:
    """StarGAN's generator G(x, c) around a define_G resnet_<N>blocks generator."""
    if not re.fullmatch(r"resnet_(\d+)blocks", netG):
        raise ValueError(f"a conditional (StarGAN) generator is a resnet_<N>blocks, got {netG!r}")
    net = define_G(input_nc, output_nc, ngf, netG, norm, use_dropout, init_type, init_gain, upsample=upsample)
    return ConditionalResnetGenerator(net, n_domains)


def define_stargan_D(input_nc: int, n_domains: int, crop_size: int, ndf: int = 64, init_type: str = "normal",
                     init_gain: float = 0.02, spectral_norm: bool = False) -> StarGANDiscriminator:
    """StarGAN's discriminator with a real/fake and a domain-classification head, sized for `crop_size`."""
    net = StarGANDiscriminator(input_nc, n_domains, crop_size, ndf)
    if spectral_norm:
        _spectrally_normalize(net)
    return init_weights(net, init_type, init_gain)


def receptive_field(netD: str, n_layers_D: int = 3) -> int:
    """Receptive field in pixels of one output patch: pixel 1; n_layers 1..5 -> 16, 34, 70, 142, 286."""
    if netD == "pixel":
        return 1
    n = 3 if netD == "basic" else n_layers_D
    if netD not in ("basic", "n_layers"):
        raise ValueError(f"unknown discriminator {netD!r}")
    # (kernel, stride) from the output back to the input: two stride-1 convs, then n stride-2 convs.
    field = 1
    for kernel, stride in [(4, 1), (4, 1)] + [(4, 2)] * n:
        field = field * stride + (kernel - stride)
    return field


def stargan_receptive_field(crop_size: int) -> int:
    """Receptive field in pixels of one real/fake patch of StarGAN's D at `crop_size` (318 at 128)."""
    field = 1
    for kernel, stride in [(3, 1)] + [(4, 2)] * stargan_depth(crop_size)[0]:
        field = field * stride + (kernel - stride)
    return field


def discriminator_name(netD: str, n_layers_D: int = 3) -> str:
    """Human name of a discriminator by its receptive field, e.g. '70x70 PatchGAN'."""
    rf = receptive_field(netD, n_layers_D)
    if rf == 1:
        return "1x1 PixelGAN"
    return f"{rf}x{rf} PatchGAN"


def size_multiple(net: nn.Module) -> int:
    """Input sides must be a multiple of this for the network to give a same-size output."""
    return getattr(net, "size_multiple", 1)


def min_input_side(net: nn.Module) -> int:
    """The smallest input side the network accepts (its reflection paddings need room)."""
    return getattr(net, "min_side", 1)
