"""torch.hub entry points, offline from a checkout of this repository:

    generator = torch.hub.load(REPO_DIR, "generator", source="local", path="exported-model")

``path`` is a folder written by ``dcgan export`` (or the serving artifact a worker publishes),
or the .zip/.tar.gz archive ``GET /models/{id}/export`` returns.
"""

dependencies = ["torch", "safetensors"]


def generator(path, device=None, fast_layers=True):
    """The exported DCGAN generator at ``path`` (folder or .zip/.tar.gz), verified against the
    SHA-256 in its config.json, in eval mode on ``device`` (default the CPU)."""
    from shared_models.networks import Generator

    return Generator.from_pretrained(path, device, fast_layers)
