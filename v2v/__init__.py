"""v2v: real-time video-to-video restyling with a causal (CausVid-style) video diffusion transformer.

`import v2v` needs only torch, numpy and safetensors: this package is pure compute. Frame sources,
sinks and the command line live in `capture`.
"""

__version__ = "0.1.0"
