"""The learned part: network configurations and factories, losses, checkpoints on disk and on
the hub, and the training data that feeds them.

Modules, each importing only those above it (and `media`, `lineart`, `motion`, `errors`):
- `config`: ModelConfig and the presets (paper, small, tiny);
- `networks`: the generator and the patch discriminator, built from a config;
- `losses`: adversarial, content and style (VGG-19), temporal;
- `checkpoint`: safetensors generators with their config, the model cache and the hub;
- `data`: clips of frames as training samples (line art, condition, flows), and batch samplers.
"""
